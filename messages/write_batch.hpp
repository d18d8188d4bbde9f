// An ordered list of puts and deletes over declared keyspaces, applied atomically by a backend.
#pragma once

#include <caf/meta/type_name.hpp>

#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

namespace telos {

/// Index of a keyspace in the list declared when the backend was opened.
using keyspace_id = uint32_t;

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
    bytes_ += key.size() + value.size();
    ops_.push_back(op{op_kind::put, ks, std::string{key}, std::string{value}});
  }

  /// put() that takes over `value` instead of copying it (for values built just for the batch).
  void put_owned(keyspace_id ks, std::string_view key, std::string&& value) {
    bytes_ += key.size() + value.size();
    ops_.push_back(op{op_kind::put, ks, std::string{key}, std::move(value)});
  }

  void del(keyspace_id ks, std::string_view key) {
    bytes_ += key.size();
    ops_.push_back(op{op_kind::del, ks, std::string{key}, {}});
  }

  /// Appends all operations of `other` after ours.
  void append(const write_batch& other) {
    ops_.insert(ops_.end(), other.ops_.begin(), other.ops_.end());
    bytes_ += other.bytes_;
  }

  /// Moves all operations of `other` after ours.
  void append(write_batch&& other) {
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
  }

  void reserve(size_t n) { ops_.reserve(n); }

  const std::vector<op>& ops() const { return ops_; }
  size_t size() const { return ops_.size(); }
  bool empty() const { return ops_.empty(); }
  /// Sum of key and value sizes.
  size_t byte_size() const { return bytes_; }

  template <class Inspector>
  friend typename Inspector::result_type inspect(Inspector& f, write_batch& x) {
    return f(caf::meta::type_name("write_batch"), x.ops_, x.bytes_);
  }

private:
  std::vector<op> ops_;
  size_t bytes_ = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, write_batch::op& x) {
  return f(caf::meta::type_name("write_batch_op"), x.kind, x.ks, x.key, x.value);
}

} // namespace telos
