// An ordered list of puts and deletes over declared keyspaces, applied atomically by a backend.
#pragma once

#include <caf/meta/type_name.hpp>

#include <cstdint>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace telos {

/// Index of a keyspace in the list declared when the backend was opened.
using keyspace_id = uint32_t;

class prepared_batch;

class write_batch {
public:
  enum class op_kind : uint8_t { put = 0, del = 1 };

  struct op {
    op_kind kind = op_kind::put;
    keyspace_id ks = 0;
    std::string key;
    std::string value;
  };

  void put(keyspace_id ks, std::string_view key, std::string_view value) {
    prepared_.reset();
    bytes_ += key.size() + value.size();
    ops_.push_back(op{op_kind::put, ks, std::string{key}, std::string{value}});
  }

  /// put() that takes over `value` instead of copying it (for values built just for the batch).
  void put_owned(keyspace_id ks, std::string_view key, std::string&& value) {
    prepared_.reset();
    bytes_ += key.size() + value.size();
    ops_.push_back(op{op_kind::put, ks, std::string{key}, std::move(value)});
  }

  void del(keyspace_id ks, std::string_view key) {
    prepared_.reset();
    bytes_ += key.size();
    ops_.push_back(op{op_kind::del, ks, std::string{key}, {}});
  }

  /// Appends all operations of `other` after ours.
  void append(const write_batch& other) {
    prepared_.reset();
    ops_.insert(ops_.end(), other.ops_.begin(), other.ops_.end());
    bytes_ += other.bytes_;
  }

  /// Moves all operations of `other` after ours.
  void append(write_batch&& other) {
    prepared_.reset();
    if (ops_.empty()) {
      ops_ = std::move(other.ops_);
    } else {
      ops_.insert(ops_.end(), std::make_move_iterator(other.ops_.begin()),
                  std::make_move_iterator(other.ops_.end()));
    }
    bytes_ += other.bytes_;
    other.clear();
  }

  void clear() {
    ops_.clear();
    bytes_ = 0;
    prepared_.reset();
  }

  void reserve(size_t n) { ops_.reserve(n); }

  const std::vector<op>& ops() const { return ops_; }
  size_t size() const { return ops_.size(); }
  bool empty() const { return ops_.empty(); }
  /// Sum of key and value sizes.
  size_t byte_size() const { return bytes_; }

  /// Attaches the backend's own form of exactly these operations (storage::backend::prepare). Any
  /// change to the operations drops it; copies share it; it is not serialized.
  void attach(std::shared_ptr<prepared_batch> prepared) { prepared_ = std::move(prepared); }
  /// The attached form, or null. Only the backend that made it writes it, on its one writing
  /// thread: a batch goes to one write.
  prepared_batch* prepared() const { return prepared_.get(); }

  /// Hands the operations to the attached form and detaches it (see prepared_batch::retired).
  void retire();

  template <class Inspector>
  friend typename Inspector::result_type inspect(Inspector& f, write_batch& x) {
    return f(caf::meta::type_name("write_batch"), x.ops_, x.bytes_);
  }

private:
  std::vector<op> ops_;
  size_t bytes_ = 0;
  std::shared_ptr<prepared_batch> prepared_;
};

/// A batch in one backend's own form, made ahead of its write (storage::backend::prepare) on the
/// thread that built the batch, so that the thread that writes does not convert it. Opaque outside
/// the backend that made it; the backend writes it in place of the operations it was made from.
class prepared_batch {
public:
  virtual ~prepared_batch() = default;

  /// The operations of the batch once written (write_batch::retire): whoever holds the last
  /// reference frees them with the prepared form, so the writing thread frees neither.
  std::vector<write_batch::op> retired;
};

inline void write_batch::retire() {
  if (!prepared_) return;
  prepared_->retired = std::move(ops_);
  ops_.clear();
  bytes_ = 0;
  prepared_.reset();
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, write_batch::op& x) {
  return f(caf::meta::type_name("write_batch_op"), x.kind, x.ks, x.key, x.value);
}

} // namespace telos
