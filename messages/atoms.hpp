// Every atom of the Telos actor protocol (messages/actor_interfaces.hpp says which actor takes
// which), declared one way: CAF_ADD_ATOM of the `telos` type-ID block. CAF 0.17 atoms are
// compile-time constants of at most 10 characters that take no type ID, so they sit here, before
// the block's message types (messages/type_ids.hpp), where the interfaces can see them. An atom's
// text is its value on the wire: never change one.
#pragma once

#include <caf/type_id.hpp>

CAF_ADD_ATOM(telos, telos::atom, attach, "attach")
CAF_ADD_ATOM(telos, telos::atom, check, "check")
CAF_ADD_ATOM(telos, telos::atom, checkpoint, "checkpoint")
CAF_ADD_ATOM(telos, telos::atom, clear, "clear")
CAF_ADD_ATOM(telos, telos::atom, close, "close")
CAF_ADD_ATOM(telos, telos::atom, compact, "compact")
CAF_ADD_ATOM(telos, telos::atom, count, "count")
CAF_ADD_ATOM(telos, telos::atom, edges, "edges")
CAF_ADD_ATOM(telos, telos::atom, exists, "exists")
CAF_ADD_ATOM(telos, telos::atom, flush, "flush")
CAF_ADD_ATOM(telos, telos::atom, get, "get")
CAF_ADD_ATOM(telos, telos::atom, list, "list")
CAF_ADD_ATOM(telos, telos::atom, load, "load")
CAF_ADD_ATOM(telos, telos::atom, maintain, "maintain")
CAF_ADD_ATOM(telos, telos::atom, ok, "ok")
CAF_ADD_ATOM(telos, telos::atom, put, "put")
CAF_ADD_ATOM(telos, telos::atom, quads, "quads")
CAF_ADD_ATOM(telos, telos::atom, reconnect, "reconnect")
CAF_ADD_ATOM(telos, telos::atom, remove, "remove")
CAF_ADD_ATOM(telos, telos::atom, scan, "scan")
CAF_ADD_ATOM(telos, telos::atom, score, "score")
CAF_ADD_ATOM(telos, telos::atom, search, "search")
CAF_ADD_ATOM(telos, telos::atom, stats, "stats")
CAF_ADD_ATOM(telos, telos::atom, traverse, "traverse")
CAF_ADD_ATOM(telos, telos::atom, update, "update")
CAF_ADD_ATOM(telos, telos::atom, verify, "verify")
CAF_ADD_ATOM(telos, telos::atom, write, "write")

// Two-phase commit of cluster writes that span shards (actors/transactions.hpp).
CAF_ADD_ATOM(telos, telos::atom, prepare_tx, "prepare")
CAF_ADD_ATOM(telos, telos::atom, commit_tx, "commit")
CAF_ADD_ATOM(telos, telos::atom, abort_tx, "abort")
CAF_ADD_ATOM(telos, telos::atom, prepared_tx, "prepared")
CAF_ADD_ATOM(telos, telos::atom, applied_tx, "applied")
CAF_ADD_ATOM(telos, telos::atom, retry_commit, "retrycmt")

// Liveness of a shard node (the coordinator's heartbeat).
CAF_ADD_ATOM(telos, telos::atom, ping, "ping")
CAF_ADD_ATOM(telos, telos::atom, heartbeat, "heartbeat")

// Live restore of a checkpoint over a running cluster (docs/CLUSTER.md).
CAF_ADD_ATOM(telos, telos::atom, restore_check, "rstcheck")
CAF_ADD_ATOM(telos, telos::atom, restore_live, "rstlive")
CAF_ADD_ATOM(telos, telos::atom, run_job, "runjob")
CAF_ADD_ATOM(telos, telos::atom, reopen, "reopen")
