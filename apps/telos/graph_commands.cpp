// Commands over the graph: edge add / remove / list, traverse, quad add / remove / match.
#include "cli.hpp"

#include <cmath>

namespace telos::cli {
namespace {

json_value edge_json(const edge_data& e) {
  return {{"source", e.source.to_string()},
          {"type", e.type},
          {"target", e.target.to_string()},
          {"weight", e.weight}};
}

json_value quad_json(const quad_text& q) {
  return {{"s", q.s}, {"p", q.p}, {"o", q.o}, {"c", q.c}};
}

/// Parses a memory id argument; `what` names it in the error.
expected<uuid> id_arg(const std::string& text, const std::string& what) {
  auto id = uuid::parse(text);
  if (!id) return make_error(ec::invalid_argument, what + " '" + text + "' is not a memory id");
  return *id;
}

/// Exit 1 unless the memory exists (a read of an unknown node is a typo more often than not).
int require_memory(store& db, const uuid& id, const std::string& context, int& code) {
  auto found = db.exists(id);
  if (!found) return code = fail(found.error(), context);
  if (!*found) return code = fail(exit_not_found, "no memory with id " + id.to_string());
  return code = exit_ok;
}

edge_dir direction_of(bool in, bool both) {
  return both ? edge_dir::both : in ? edge_dir::in : edge_dir::out;
}

std::function<int()> edge_setup(CLI::App& sub, const global_options& globals) {
  struct options {
    std::string source, type, target, ns = "default";
    double weight = 1.0;
    std::string node;
    bool out = false, in = false, both = false;
    std::vector<std::string> types;
    uint64_t limit = 100000;
  };
  auto o = std::make_shared<options>();
  sub.require_subcommand(1);
  auto* add = sub.add_subcommand("add", "Add or replace the edge SRC -[TYPE]-> DST");
  auto* remove = sub.add_subcommand("remove", "Remove the edge SRC -[TYPE]-> DST");
  for (auto* cmd : {add, remove}) {
    cmd->add_option("SRC", o->source, "Source memory id")->required();
    cmd->add_option("TYPE", o->type, "Edge type")->required();
    cmd->add_option("DST", o->target, "Target memory id")->required();
    cmd->add_option("--edge-namespace", o->ns, "Namespace of the edge")->capture_default_str();
  }
  add->add_option("--weight", o->weight, "Edge weight (finite)")->capture_default_str();
  auto* list = sub.add_subcommand("list", "The edges at a memory");
  list->add_option("ID", o->node, "Memory id")->required();
  auto* out = list->add_flag("--out", o->out, "Edges leaving ID (the default)");
  auto* in = list->add_flag("--in", o->in, "Edges arriving at ID");
  auto* both = list->add_flag("--both", o->both, "Edges in both directions");
  out->excludes(in)->excludes(both);
  in->excludes(both);
  list->add_option("--type", o->types, "Only edges of this type (repeatable)");
  list->add_option("--edge-namespace", o->ns, "Only edges of this namespace");
  list->add_option("--limit", o->limit, "Edges at most")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{1}, uint64_t{100000000}));
  return [&globals, o, add, remove, list] {
    if (add->parsed() || remove->parsed()) {
      auto what = std::string{add->parsed() ? "edge add" : "edge remove"};
      auto source = id_arg(o->source, "SRC");
      if (!source) return fail(source.error());
      auto target = id_arg(o->target, "DST");
      if (!target) return fail(target.error());
      if (o->type.empty()) return fail(exit_bad_input, what + ": TYPE is empty");
      if (!std::isfinite(o->weight))
        return fail(exit_bad_input, what + ": --weight must be a finite number");
      edge_data e{*source, o->type, *target, o->ns, o->weight, {}};
      return with_store(globals, [&](store& db) {
        if (add->parsed()) {
          auto ok = db.edge_add(e);
          if (!ok) return fail(ok.error(), what);
          print(edge_json(e));
          return int{exit_ok};
        }
        auto removed = db.edge_remove(e);
        if (!removed) return fail(removed.error(), what);
        if (!*removed)
          return fail(exit_not_found, "no edge " + e.source.to_string() + " -[" + e.type + "]-> " +
                                          e.target.to_string());
        print({{"removed", edge_json(e)}});
        return int{exit_ok};
      });
    }
    (void)list;
    auto node = id_arg(o->node, "ID");
    if (!node) return fail(node.error());
    return with_store(globals, [&](store& db) {
      int code = exit_ok;
      if (require_memory(db, *node, "edge list", code) != exit_ok) return code;
      neighbour_request q;
      q.node = *node;
      q.direction = direction_of(o->in, o->both);
      q.types = o->types;
      q.ns = o->ns == "default" && !list->count("--edge-namespace") ? std::string{} : o->ns;
      q.limit = o->limit;
      auto edges = db.neighbours(std::move(q));
      if (!edges) return fail(edges.error(), "edge list");
      json_value items = json_value::array();
      for (const auto& e : *edges)
        items.push_back(edge_json(e));
      print({{"edges", std::move(items)}});
      return int{exit_ok};
    });
  };
}

registrar edge_command{
    {"edge", "Add, remove or list typed, weighted edges between memories", edge_setup}};

std::function<int()> traverse_setup(CLI::App& sub, const global_options& globals) {
  struct options {
    std::string start;
    uint32_t depth = 2;
    std::vector<std::string> types;
    uint64_t limit = 100;
    bool in = false, both = false;
    std::string ns;
  };
  auto o = std::make_shared<options>();
  sub.add_option("ID", o->start, "Start memory id")->required();
  sub.add_option("--depth", o->depth, "Hops at most (1..16)")
      ->capture_default_str()
      ->check(CLI::Range(1, 16));
  sub.add_option("--type", o->types, "Follow only edges of this type (repeatable)");
  sub.add_option("--limit", o->limit, "Paths at most")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{1}, uint64_t{10000000}));
  auto* in = sub.add_flag("--in", o->in, "Follow edges backwards");
  auto* both = sub.add_flag("--both", o->both, "Follow edges in both directions");
  in->excludes(both);
  sub.add_option("--edge-namespace", o->ns, "Follow only edges of this namespace");
  return [&globals, o] {
    auto start = id_arg(o->start, "ID");
    if (!start) return fail(start.error());
    return with_store(globals, [&](store& db) {
      int code = exit_ok;
      if (require_memory(db, *start, "traverse", code) != exit_ok) return code;
      traverse_request q;
      q.start = *start;
      q.direction = direction_of(o->in, o->both);
      q.types = o->types;
      q.ns = o->ns;
      q.depth = o->depth;
      q.limit = o->limit;
      auto paths = db.traverse(std::move(q));
      if (!paths) return fail(paths.error(), "traverse");
      json_value items = json_value::array();
      for (const auto& p : *paths) {
        json_value steps = json_value::array();
        steps.push_back(p.nodes.front().to_string());
        for (size_t i = 0; i < p.types.size(); ++i) {
          steps.push_back(p.types[i]);
          steps.push_back(p.nodes[i + 1].to_string());
        }
        items.push_back(std::move(steps));
      }
      print({{"paths", std::move(items)}});
      return int{exit_ok};
    });
  };
}

registrar traverse_command{
    {"traverse", "Breadth-first paths from a memory over its edges", traverse_setup}};

std::function<int()> quad_setup(CLI::App& sub, const global_options& globals) {
  struct options {
    quad_text q;
    std::optional<std::string> s, p, o, c;
    uint64_t limit = 0;
  };
  auto o = std::make_shared<options>();
  sub.require_subcommand(1);
  auto* add = sub.add_subcommand("add", "Add the quad (S, P, O, C) of free-text terms");
  auto* remove = sub.add_subcommand("remove", "Remove the quad (S, P, O, C)");
  for (auto* cmd : {add, remove}) {
    cmd->add_option("S", o->q.s, "Subject")->required();
    cmd->add_option("P", o->q.p, "Predicate")->required();
    cmd->add_option("O", o->q.o, "Object")->required();
    cmd->add_option("C", o->q.c, "Context")->required();
  }
  auto* match = sub.add_subcommand("match", "The quads matching a pattern (unset = any)");
  match->add_option("--s", o->s, "Subject");
  match->add_option("--p", o->p, "Predicate");
  match->add_option("--o", o->o, "Object");
  match->add_option("--c", o->c, "Context");
  match->add_option("--limit", o->limit, "Quads at most (default: all)");
  return [&globals, o, add, remove, match] {
    (void)match;
    return with_store(globals, [&](store& db) {
      if (add->parsed()) {
        auto ok = db.quad_add({o->q});
        if (!ok) return fail(ok.error(), "quad add");
        print(quad_json(o->q));
        return int{exit_ok};
      }
      if (remove->parsed()) {
        auto removed = db.quad_remove({o->q});
        if (!removed) return fail(removed.error(), "quad remove");
        if (removed->empty() || !removed->front()) return fail(exit_not_found, "no such quad");
        print({{"removed", quad_json(o->q)}});
        return int{exit_ok};
      }
      quad_match_request q;
      q.has_s = o->s.has_value();
      q.has_p = o->p.has_value();
      q.has_o = o->o.has_value();
      q.has_c = o->c.has_value();
      q.terms =
          quad_text{o->s.value_or(""), o->p.value_or(""), o->o.value_or(""), o->c.value_or("")};
      json_value items = json_value::array();
      uint64_t printed = 0;
      while (true) {
        q.limit = 1000;
        auto page = db.quad_match(q);
        if (!page) return fail(page.error(), "quad match");
        for (const auto& x : page->quads) {
          if (o->limit != 0 && printed == o->limit) break;
          items.push_back(quad_json(x));
          ++printed;
        }
        if (page->next.empty() || (o->limit != 0 && printed == o->limit)) break;
        q.after = std::move(page->next);
      }
      print({{"quads", std::move(items)}});
      return int{exit_ok};
    });
  };
}

registrar quad_command{
    {"quad", "Add, remove or match quads (subject, predicate, object, context)", quad_setup}};

} // namespace
} // namespace telos::cli
