// Shortest completion of a recogniser thread: its length (cheap, used for every candidate token
// under a budget) and, on request, the bytes (used when the budget is tight). Both come from
// the same code so they always agree.
#include <algorithm>

#include "serve/grammar/grammar_internal.h"

namespace moecat::grammar {
namespace {

enum : uint8_t { S_NORMAL, S_ESC, S_HEX, S_NEED_BS, S_NEED_U, S_UTF8 };  // as json_pda.cpp
enum : uint8_t { N_START, N_MINUS, N_ZERO, N_INT, N_FRAC0, N_FRAC, N_EXP0, N_EXPS, N_EXP };

using i128 = __int128;

std::string u128_str(i128 v) {
  std::string s;
  do { s += char('0' + int(v % 10)); v /= 10; } while (v > 0);
  std::reverse(s.begin(), s.end());
  return s;
}

bool missing(const Cont& c, const Node& n, size_t i) {
  return n.props[i].required && (n.ordered ? int32_t(i) > c.last : !((c.used >> i) & 1));
}

// Close an object with m members so far: the missing required keys, then '}'.
int64_t obj_close(const Grammar& g, const Cont& c, uint32_t m, std::string* s) {
  const Node& n = g.nodes[c.node];
  if (s) {
    bool first = m == 0;
    for (size_t i = 0; i < n.props.size(); ++i) {
      if (!missing(c, n, i)) continue;
      if (!first) *s += ',';
      first = false;
      *s += '"' + n.props[i].name + "\":";
      g.min_string(n.props[i].node, *s);
    }
    *s += '}';
  }
  return c.req_cost + (m > 0 ? c.req_n : std::max(c.req_n - 1, 0)) + 1;
}

int64_t arr_close(const Grammar& g, const Cont& c, uint32_t k, std::string* s) {
  const Node& n = g.nodes[c.node];
  if (k >= n.min_items) {
    if (s) *s += ']';
    return 1;
  }
  if (s) {
    for (uint32_t i = k; i < n.min_items; ++i) {
      if (i) *s += ',';
      g.min_string(n.item(i), *s);
    }
    *s += ']';
  }
  return n.tail[k] + 1 - (k == 0 ? 1 : 0);
}

// Finishing the key being written (trie node tn, or off the trie at -1; `fin` finishes a
// partial UTF-8 character), then ':' + the value's shortest form + closing the object.
int64_t key_rest(const Grammar& g, const Cont& c, int32_t tn, const std::string& fin, std::string* s) {
  const Node& n = g.nodes[c.node];
  int64_t best = kInf;
  int32_t best_k = -1;  // declared key, or -1: additional key
  for (uint8_t b : fin) if (tn >= 0) tn = g.key_child(tn, b);
  // Declared keys below tn. The partial character (if any) is completed by the trie path.
  int32_t start = tn;
  if (!fin.empty() && start < 0) start = -1;
  if (start >= 0) {
    for (int32_t k : g.keys[start].keys) {
      if (!key_allowed(c, n, k)) continue;
      const Prop& p = n.props[k];
      int64_t r = c.req_cost - (p.required ? p.cost : 0);
      int32_t rn = c.req_n - (p.required ? 1 : 0);
      int64_t cost = int64_t(p.name.size() - g.keys[start].depth) + 2 + g.nodes[p.node].minlen + r + rn + 1;
      if (cost < best) { best = cost; best_k = k; }
    }
  }
  // An additional key: close here, or add one character first if this is a declared key.
  char extra = 0;
  if (n.addl >= 0) {
    if (tn >= 0 && g.keys[tn].key >= 0) {
      for (char x : std::string("abcdefghijklmnopqrstuvwxyz0123456789_")) {
        if (g.key_child(tn, uint8_t(x)) < 0) { extra = x; break; }
      }
    }
    int64_t cost = (extra ? 1 : 0) + 2 + g.nodes[n.addl].minlen + c.req_cost + c.req_n + 1;
    if (cost < best) { best = cost; best_k = -1; }
  }
  if (s && best < kInf) {
    Cont c2 = c;
    if (best_k >= 0) {
      const Prop& p = n.props[best_k];
      *s += fin;
      // the rest of the key name after what is written so far (depth bytes incl. fin)
      *s += p.name.substr(g.keys[start].depth);
      *s += "\":";
      g.min_string(p.node, *s);
      if (!n.ordered) c2.used |= uint64_t(1) << best_k;
      else c2.last = best_k;
    } else {
      *s += fin;
      if (extra) *s += extra;
      *s += "\":";
      g.min_string(n.addl, *s);
    }
    obj_close(g, c2, c.n + 1, s);
  }
  return best + int64_t(fin.size());
}

int64_t string_rest(const Grammar& g, const Thread& t, std::string* s) {
  const Node& n = g.nodes[t.node];
  std::string r;
  switch (t.sub) {
    case S_NORMAL: break;
    case S_UTF8: r += char(t.lo); r.append(t.need - 1, char(0x80)); break;
    case S_ESC: r += 'n'; break;
    case S_HEX: {
      int i = t.aux & 3;
      if (t.aux & 16) { r += std::string("DC00").substr(i); break; }
      uint32_t v = t.u << (4 * (4 - i));
      r.append(4 - i, '0');
      if (v >= 0xD800 && v <= 0xDBFF) r += "\\uDC00";
      break;
    }
    case S_NEED_BS: r += "\\uDC00"; break;
    case S_NEED_U: r += "uDC00"; break;
  }
  if (t.cnt < n.min_len) r.append(n.min_len - t.cnt, 'a');
  r += '"';
  if (s) *s += r;
  return int64_t(r.size());
}

int64_t number_rest(const Grammar& g, const Thread& t, std::string* s) {
  const Node& n = g.nodes[t.node];
  std::string r;
  if (!n.bounded) {
    if (t.sub == N_MINUS || t.sub == N_FRAC0 || t.sub == N_EXP0 || t.sub == N_EXPS) r = "0";
  } else {
    i128 a, b;
    if (!t.neg) { a = std::max<i128>(n.lo, 0); b = n.hi; }
    else { a = std::max<i128>(-i128(n.hi), 0); b = -i128(n.lo); }
    if (t.sub == N_MINUS || t.sub == N_START) {
      r = u128_str(a);
    } else if (t.sub == N_INT && !(i128(t.mag) >= a && i128(t.mag) <= b)) {
      i128 lo = t.mag, span = 1;
      for (int j = 0; j <= 20; ++j) {
        if (lo + span - 1 >= a && lo <= b) {
          r = u128_str(std::max(a, lo)).substr(t.cnt);
          break;
        }
        lo *= 10;
        span *= 10;
      }
    }
  }
  if (s) *s += r;
  return int64_t(r.size());
}

}  // namespace

int64_t Pda::after_child(const Cont& c, std::string* s) const {
  if (c.kind == K_ROOT) return 0;
  if (c.kind == K_OBJ) return obj_close(*g, c, c.n + 1, s);
  return arr_close(*g, c, c.n + 1, s);
}

int64_t Pda::rest(const Thread& t, std::string* s) const {
  const Grammar& G = *g;
  int64_t r = 0;
  bool own_container = false;  // the lexeme already accounts for closing t.c
  switch (t.mode) {
    case M_DONE:
      if (s) *s += G.tail.substr(std::min<size_t>(t.cnt, G.tail.size()));
      return int64_t(G.tail.size()) - std::min<int64_t>(t.cnt, G.tail.size());
    case M_LEAD:
      if (s) {
        *s += G.lead.substr(std::min<size_t>(t.cnt, G.lead.size()));
        G.min_string(G.root, *s);
        *s += G.tail;
      }
      return int64_t(G.lead.size()) - std::min<int64_t>(t.cnt, G.lead.size()) + G.nodes[G.root].minlen +
             int64_t(G.tail.size());
    case M_VALUE:
      r = G.nodes[t.node].minlen;
      if (s) G.min_string(t.node, *s);
      break;
    case M_STRING: r = string_rest(G, t, s); break;
    case M_NUMBER: r = number_rest(G, t, s); break;
    case M_LIT: {
      r = G.lits[t.tn].minrest;
      if (s) for (int32_t l = t.tn; !G.lits[l].term;) {
        int32_t c = G.lits[l].best;
        for (auto [b, k] : G.lits[l].kids) if (k == c) *s += char(b);
        l = c;
      }
      break;
    }
    case M_KEY: {
      std::string fin;
      if (t.sub == S_UTF8) { fin += char(t.lo); fin.append(t.need - 1, char(0x80)); }
      r = key_rest(G, t.c, t.tn, fin, s);
      own_container = true;
      break;
    }
    case M_CONT: {
      own_container = true;
      const Cont& c = t.c;
      switch (c.phase) {
        case OBJ_START: r = obj_close(G, c, 0, s); break;
        case OBJ_NEXT: r = obj_close(G, c, c.n, s); break;
        case OBJ_COMMA:
          if (c.req_n > 0) {
            r = obj_close(G, c, 0, s);
          } else {
            if (s) *s += '"';
            r = 1 + key_rest(G, c, G.nodes[c.node].keyroot, "", s);
          }
          break;
        case OBJ_COLON:
          if (s) *s += ':';
          if (s) G.min_string(c.vnode, *s);
          r = 1 + G.nodes[c.vnode].minlen + after_child(c, s);
          break;
        case ARR_START: r = arr_close(G, c, 0, s); break;
        case ARR_NEXT: r = arr_close(G, c, c.n, s); break;
        default: r = after_child(c, s); break;
      }
      break;
    }
  }
  if (!own_container) r += after_child(t.c, s);
  if (t.saved >= 0) {
    r += (*arena)[t.saved].suffix;
    if (s) for (int32_t f = t.saved; f >= 0; f = (*arena)[f].parent) after_child((*arena)[f].c, s);
  }
  if (s) *s += G.tail;
  return r + int64_t(G.tail.size());
}

int64_t Pda::rest_as_additional_key(const Thread& t) const {
  const Node& n = g->nodes[t.c.node];
  if (n.addl < 0) return kInf;
  int64_t r = 1 + 2 + g->nodes[n.addl].minlen + obj_close(*g, t.c, t.c.n + 1, nullptr);
  return r + (t.saved >= 0 ? (*arena)[t.saved].suffix : 0) + int64_t(g->tail.size());
}

}  // namespace moecat::grammar
