// The indexes' id → slot maps: open addressing in two flat arrays (a control byte per place, then
// the entries), linear probing and deletion by backward shift, so no tombstones pile up. A million
// ids cost two mappings (on huge pages once large) instead of a million heap nodes: an index's load
// fills its map without a malloc per id (docs/ENGINE.md, "Recovery").
#pragma once

#include "telos/messages/uuid.hpp"
#include "telos/storage/mapped_array.hpp"

#include <cstdint>
#include <functional>
#include <new>
#include <utility>

namespace telos::storage {

/// A hash map from uuid to a trivially copyable V with the part of std::unordered_map's interface
/// the indexes use (no iteration). Iterators and references stay valid until the next insert or
/// erase (an insert may grow the arrays, an erase moves later entries back), unlike a node map's.
template <class V>
class id_table {
public:
  struct value_type {
    uuid first;
    V second;
  };
  using iterator = value_type*;
  using const_iterator = const value_type*;

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  /// Places in the table (a power of two, or 0 before the first insert).
  size_t bucket_count() const { return control_.size(); }
  /// The table grows before it is fuller than this.
  float max_load_factor() const { return 0.875f; }
  size_t memory_bytes() const {
    return control_.capacity() + entries_.capacity() * sizeof(value_type);
  }

  iterator end() { return nullptr; }
  const_iterator end() const { return nullptr; }

  iterator find(const uuid& id) {
    return const_cast<iterator>(static_cast<const id_table&>(*this).find(id));
  }
  const_iterator find(const uuid& id) const {
    if (size_ == 0) return nullptr;
    const uint64_t h = hash(id);
    const uint8_t tag = tag_of(h);
    for (size_t i = h & mask();; i = (i + 1) & mask()) {
      const uint8_t c = control_[i];
      if (c == 0) return nullptr;
      if (c == tag && entries_[i].first == id) return &entries_[i];
    }
  }
  size_t count(const uuid& id) const { return find(id) != nullptr ? 1 : 0; }

  /// Inserts (id, value) unless id is present; the entry, and whether it was inserted. Only an
  /// insert can grow the table: finding a present id moves nothing.
  std::pair<iterator, bool> try_emplace(const uuid& id, const V& value) {
    if (auto it = find(id)) return {it, false};
    if (size_ + 1 > limit()) reserve(size_ + 1);
    const uint64_t h = hash(id);
    size_t i = h & mask();
    while (control_[i] != 0)
      i = (i + 1) & mask();
    control_[i] = tag_of(h);
    entries_[i] = value_type{id, value};
    ++size_;
    return {&entries_[i], true};
  }
  std::pair<iterator, bool> emplace(const uuid& id, const V& value) {
    return try_emplace(id, value);
  }
  /// The value of id, inserted as V{} when absent.
  V& operator[](const uuid& id) { return try_emplace(id, V{}).first->second; }

  /// Removes the entry `it` points to (from find or try_emplace, not end()).
  void erase(iterator it) {
    size_t hole = static_cast<size_t>(it - entries_.data());
    --size_;
    // Backward shift: every entry after the hole up to the next empty place moves into the hole
    // when the hole lies on its probe path (between its home place and where it is).
    for (size_t i = (hole + 1) & mask();; i = (i + 1) & mask()) {
      if (control_[i] == 0) break;
      const size_t home = hash(entries_[i].first) & mask();
      // Distance from home to i and from home to the hole, around the table.
      if (((hole - home) & mask()) < ((i - home) & mask())) {
        control_[hole] = control_[i];
        entries_[hole] = entries_[i];
        hole = i;
      }
    }
    control_[hole] = 0;
  }
  bool erase(const uuid& id) {
    auto it = find(id);
    if (it == nullptr) return false;
    erase(it);
    return true;
  }

  /// Room for n entries without growing (std::bad_alloc, also for an n no table can hold, leaves
  /// the table as it was).
  void reserve(size_t n) {
    size_t places = control_.empty() ? 16 : control_.size();
    while (n > places / 8 * 7) {
      if (places > static_cast<size_t>(-1) / 2 / sizeof(value_type)) throw std::bad_alloc{};
      places *= 2;
    }
    if (places != control_.size()) rehash(places);
  }

  void clear() {
    control_ = mapped_array<uint8_t>{};
    entries_ = mapped_array<value_type>{};
    size_ = 0;
  }

private:
  static uint64_t hash(const uuid& id) { return std::hash<uuid>{}(id); }
  /// A nonzero control byte: 0x80 and the hash's top 7 bits.
  static uint8_t tag_of(uint64_t h) { return static_cast<uint8_t>(0x80 | (h >> 57)); }
  size_t mask() const { return control_.size() - 1; }
  size_t limit() const { return control_.size() / 8 * 7; }

  void rehash(size_t places) {
    mapped_array<uint8_t> control;
    mapped_array<value_type> entries;
    control.reserve(places);
    control.assign(places, 0);
    entries.reserve(places);
    entries.resize(places);
    const size_t m = places - 1;
    for (size_t j = 0; j < control_.size(); ++j) {
      if (control_[j] == 0) continue;
      size_t i = hash(entries_[j].first) & m;
      while (control[i] != 0)
        i = (i + 1) & m;
      control[i] = control_[j];
      entries[i] = entries_[j];
    }
    control_ = std::move(control);
    entries_ = std::move(entries);
  }

  mapped_array<uint8_t> control_;
  mapped_array<value_type> entries_;
  size_t size_ = 0;
};

} // namespace telos::storage
