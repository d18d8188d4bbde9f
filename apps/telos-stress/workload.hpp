// The deterministic workload of telos-stress: ids, memory contents and queries are pure functions
// of (seed, id number, version), and each writer's operation sequence is a pure function of
// (seed, writer, its starting state). That is what lets a parent process recompute exactly what a
// killed child wrote, and any run be repeated with the same seed.
#pragma once

#include "telos/messages/memory.hpp"
#include "telos/messages/profile.hpp"
#include "telos/messages/search.hpp"
#include "telos/messages/uuid.hpp"

#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

namespace telos::stress {

/// splitmix64: tiny, fast, and the same sequence on every platform (unlike std distributions).
class rng {
public:
  explicit rng(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  /// Uniform in [0, n).
  uint64_t below(uint64_t n) { return n == 0 ? 0 : next() % n; }
  /// Uniform in [lo, hi).
  float uniform(float lo, float hi) {
    return lo + (hi - lo) * static_cast<float>(next() >> 40) / static_cast<float>(1ull << 24);
  }
  bool chance(double p) { return static_cast<double>(next() >> 11) / 9007199254740992.0 < p; }

private:
  uint64_t state_;
};

/// Mixes several numbers into one seed.
uint64_t mix(uint64_t a, uint64_t b, uint64_t c = 0, uint64_t d = 0);

/// "teleo13", "small" (five small embedders, one of each kind and metric, for quick runs and
/// tests), or a profile JSON file.
expected<profile> load_profile(const std::string& name_or_file);

/// The state of one id in a model of the store: the last version written, and whether the
/// memory is there. Versions only grow, also across deletes, so (id, version) names exactly one
/// content.
struct id_state {
  uint32_t version = 0;
  bool present = false;
  friend bool operator==(const id_state& a, const id_state& b) {
    return a.version == b.version && a.present == b.present;
  }
  friend bool operator!=(const id_state& a, const id_state& b) { return !(a == b); }
};

/// Generates every id, memory and query of a run.
class generator {
public:
  generator(telos::profile p, uint64_t seed, uint64_t memories);

  const telos::profile& profile() const { return profile_; }
  uint64_t memories() const { return ids_.size(); }
  const uuid& id(uint64_t n) const { return ids_[n]; }
  /// The number of an id of this run, or -1.
  int64_t number(const uuid& id) const;

  /// The content of id number n at `version` (>= 1): every field and every embedding.
  memory make(uint64_t n, uint32_t version) const;
  /// One embedding of make(n, version), without generating the others.
  embedding make_embedding_of(uint64_t n, uint32_t version, size_t embedder_index) const;
  /// A query embedding for one embedder, near the cluster of a random memory.
  embedding make_query(size_t embedder_index, uint64_t salt) const;
  /// The namespace of id number n (constant across versions).
  static std::string namespace_of(uint64_t n) { return "ns" + std::to_string(n % 4); }

  /// Decodes "n" and "v" from a memory's attributes, as make() wrote them; false when absent.
  static bool decode(const memory& m, uint64_t& n, uint32_t& version);

private:
  embedding make_embedding(size_t e, uint64_t cluster, uint64_t noise_seed) const;

  telos::profile profile_;
  uint64_t seed_;
  std::vector<uuid> ids_;
  std::unordered_map<uuid, uint64_t> numbers_;
  /// Per embedder, per cluster: the dense centre (dim floats) or, for multi, a centre token.
  std::vector<std::vector<std::vector<float>>> centres_;
  /// Per sparse embedder, per cluster: the terms that cluster favours.
  std::vector<std::vector<std::vector<uint32_t>>> term_pools_;
};

/// Which part of the store a write touches.
enum class op_kind : uint8_t { put, batch, update, remove };
const char* to_string(op_kind kind);

/// One write of a writer: the ids (numbers) it touches and the version each gets (ignored for
/// remove).
struct write_op {
  op_kind kind = op_kind::put;
  std::vector<uint64_t> ids;
  std::vector<uint32_t> versions;
};

/// The operation sequence of one writer. Writer w of W owns the ids n with n % W == w, so no
/// two writers ever touch the same id and each writer's model is exact without locks.
class writer_script {
public:
  writer_script(uint64_t seed, uint32_t writer, uint32_t writers, uint64_t memories,
                uint32_t max_batch);

  /// The next operation given the state of every id (indexed by id number; the writer reads only
  /// its own). Pure: the same seed, the
  /// same state and the same number of earlier calls give the same operation.
  write_op next(const std::vector<id_state>& state);
  /// Applies an acknowledged operation to a state (sized to the number of ids). Writers touch
  /// disjoint elements, so several may apply to one shared vector concurrently.
  static void apply(const write_op& op, std::vector<id_state>& state);
  /// The ids this writer owns.
  std::vector<uint64_t> owned() const;

private:
  rng rng_;
  uint32_t writer_;
  uint32_t writers_;
  uint64_t memories_;
  uint32_t max_batch_;
};

} // namespace telos::stress
