// fuzz_caf_message: what a telosd node deserialises from its peers once CAF's BASP handshake is
// done: the payload of a message, read by caf::binary_deserializer into our types through their
// inspect overloads (messages/type_ids.hpp). Input: [selector][bytes]. Selector below the number
// of our types: the bytes are read as that one type (types in the order of the type-ID block);
// otherwise as a whole caf::message, whose type names come from the bytes. A read either fails
// with an error or gives a value that serialises and reads back to the same bytes. The BASP header
// and handshake before it are CAF's own code, not fuzzed here.
#include "fuzz_common.hpp"

#include "telos/messages/type_ids.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/message.hpp>

#include <cstdint>
#include <utility>
#include <vector>

namespace telos::fuzz {
namespace {

/// One actor system for the whole run, with our types registered and the deterministic test
/// scheduler (no worker threads).
caf::actor_system& fuzz_system() {
  static caf::actor_system_config* cfg = [] {
    auto* c = new caf::actor_system_config;
    c->add_message_types<caf::id_block::telos>();
    c->set("scheduler.policy", caf::atom("testing"));
    c->set("logger.verbosity", caf::atom("quiet"));
    return c;
  }();
  static auto* sys = new caf::actor_system{*cfg};
  return *sys;
}

template <class T>
void check_type(caf::actor_system& sys, const char* data, size_t size) {
  T x{};
  caf::binary_deserializer source{sys, data, size};
  if (auto err = source(x)) return;
  std::vector<char> bytes;
  caf::binary_serializer sink{sys, bytes};
  require(!sink(x), "a read value serialises");
  T y{};
  caf::binary_deserializer again{sys, bytes};
  require(!again(y), "a serialised value reads back");
  std::vector<char> bytes_again;
  caf::binary_serializer sink_again{sys, bytes_again};
  require(!sink_again(y) && bytes_again == bytes, "serialisation is stable across a round trip");
}

constexpr caf::type_id_t first_id = caf::id_block::telos::begin;
constexpr size_t type_count = caf::id_block::telos::end - caf::id_block::telos::begin;

template <size_t... Is>
void check_by_index(size_t which, caf::actor_system& sys, const char* data, size_t size,
                    std::index_sequence<Is...>) {
  using checker = void (*)(caf::actor_system&, const char*, size_t);
  static constexpr checker table[] = {
      &check_type<typename caf::type_by_id<first_id + Is>::type>...};
  table[which](sys, data, size);
}

void check_message(caf::actor_system& sys, const char* data, size_t size) {
  caf::message msg;
  caf::binary_deserializer source{sys, data, size};
  if (auto err = source(msg)) return;
  std::vector<char> bytes;
  caf::binary_serializer sink{sys, bytes};
  require(!sink(msg), "a read message serialises");
  caf::message again;
  caf::binary_deserializer reread{sys, bytes};
  require(!reread(again), "a serialised message reads back");
}

} // namespace
} // namespace telos::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace telos::fuzz;
  if (size == 0) return 0;
  auto& sys = fuzz_system();
  auto* bytes = reinterpret_cast<const char*>(data) + 1;
  if (data[0] < type_count)
    check_by_index(data[0], sys, bytes, size - 1, std::make_index_sequence<type_count>{});
  else
    check_message(sys, bytes, size - 1);
  return 0;
}
