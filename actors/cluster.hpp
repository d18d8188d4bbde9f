// Distribution over CAF's io middleman, one header for what telosd, the facade and the server use.
// It owns nothing itself; the parts live in:
//   network.hpp       TCP/TLS setup, endpoints, publish/connect a node, the coordinator node actor;
//   node_files.hpp    NODE binding, CLUSTER map, prepared/ parts, checkpoint check and swap;
//   shard_node.hpp    the node actor of a shard host (attach, two-phase commit, live restore);
//   remote_shard.hpp  attaching to a remote shard and the coordinator's stand-in actor for it.
// See docs/CLUSTER.md.
#pragma once

#include "telos/actors/network.hpp"
#include "telos/actors/node_files.hpp"
#include "telos/actors/remote_shard.hpp"
#include "telos/actors/shard_node.hpp"
