// Byte-level recogniser: one Thread = one parse of the prefix (anyOf alternatives become
// several threads). step() is a pure function of (thread, byte) apart from appending saved
// parent containers to the frame arena, so the token trie walk can branch by copying threads.
#include <algorithm>
#include <cstring>

#include "serve/grammar/grammar_internal.h"

namespace moecat::grammar {
namespace {

enum : uint8_t { S_NORMAL, S_ESC, S_HEX, S_NEED_BS, S_NEED_U, S_UTF8 };
enum : uint8_t { N_START, N_MINUS, N_ZERO, N_INT, N_FRAC0, N_FRAC, N_EXP0, N_EXPS, N_EXP };

bool is_ws(uint8_t b) { return b == ' ' || b == '\n' || b == '\t' || b == '\r'; }
int hexval(uint8_t b) {
  if (b >= '0' && b <= '9') return b - '0';
  if (b >= 'a' && b <= 'f') return b - 'a' + 10;
  if (b >= 'A' && b <= 'F') return b - 'A' + 10;
  return -1;
}

// Starts a UTF-8 sequence at lead byte b (>= 0x80): need/lo/hi describe the next byte.
bool utf8_lead(Thread& t, uint8_t b) {
  t.lo = 0x80;
  t.hi = 0xBF;
  if (b >= 0xC2 && b <= 0xDF) t.need = 1;
  else if (b == 0xE0) { t.need = 2; t.lo = 0xA0; }
  else if ((b >= 0xE1 && b <= 0xEC) || b == 0xEE || b == 0xEF) t.need = 2;
  else if (b == 0xED) { t.need = 2; t.hi = 0x9F; }
  else if (b == 0xF0) { t.need = 3; t.lo = 0x90; }
  else if (b >= 0xF1 && b <= 0xF3) t.need = 3;
  else if (b == 0xF4) { t.need = 3; t.hi = 0x8F; }
  else return false;
  t.sub = S_UTF8;
  return true;
}
bool utf8_cont(Thread& t, uint8_t b) {
  if (b < t.lo || b > t.hi) return false;
  t.lo = 0x80;
  t.hi = 0xBF;
  if (--t.need == 0) t.sub = S_NORMAL;
  return true;
}

using i128 = __int128;
// Magnitude interval [a, b] of values in [lo, hi] with the given sign.
void mag_range(const Node& n, bool neg, i128& a, i128& b) {
  if (!neg) { a = std::max<i128>(n.lo, 0); b = n.hi; }
  else { a = std::max<i128>(-i128(n.hi), 0); b = -i128(n.lo); }
}
// Can an integer with this sign and digit prefix (k digits, value v) still land in range?
bool int_feasible(const Node& n, bool neg, uint64_t v, uint32_t k) {
  i128 a, b;
  mag_range(n, neg, a, b);
  if (a > b) return false;
  if (k == 0) return b >= (neg ? 0 : 0);
  if (v == 0) return a == 0;  // a leading zero ends the digits
  i128 lo = v, span = 1;
  for (int j = 0; j <= 20; ++j) {
    if (lo > b) return false;
    if (lo + span - 1 >= a) return true;
    lo *= 10;
    span *= 10;
  }
  return false;
}
bool int_in_range(const Node& n, bool neg, uint64_t v) {
  i128 a, b;
  mag_range(n, neg, a, b);
  return i128(v) >= a && i128(v) <= b;
}

}  // namespace

bool Thread::operator==(const Thread& o) const {
  static_assert(sizeof(Cont) == 40 && sizeof(Thread) == 80, "no padding: memcmp equality");
  return std::memcmp(this, &o, sizeof(Thread)) == 0;
}

void Pda::enter_value(const Thread& t, int32_t node, std::vector<Thread>& out) const {
  const Node& n = g->nodes[node];
  auto add = [&](int32_t leaf) {
    const Node& l = g->nodes[leaf];
    if (l.minlen >= kInf || t.depth + l.mindepth > kMaxDepth) return;
    Thread x = t;
    x.mode = M_VALUE;
    x.node = leaf;
    x.sub = 0;
    x.tn = -1;
    out.push_back(x);
  };
  if (n.is_union) for (int32_t a : n.alts) add(a);
  else add(node);
}

namespace {

struct Stepper {
  const Pda& p;
  const Grammar& g;
  std::vector<Thread>& out;

  void value_done(Thread& t) {
    t.ws = 0;
    if (t.c.kind == K_ROOT) { t.mode = M_DONE; t.cnt = 0; return; }
    t.c.n++;
    t.c.phase = t.c.kind == K_OBJ ? OBJ_NEXT : ARR_NEXT;
    t.mode = M_CONT;
  }

  bool push_container(Thread& t, int32_t node, uint8_t kind) {
    if (t.depth >= kMaxDepth) return false;
    std::vector<Frame>& ar = *p.arena;
    int64_t suffix = p.after_child(t.c, nullptr) + (t.saved >= 0 ? ar[t.saved].suffix : 0);
    ar.push_back(Frame{t.c, t.saved, t.depth, suffix});
    t.saved = int32_t(ar.size() - 1);
    t.depth++;
    const Node& n = g.nodes[node];
    Cont c;
    c.node = node;
    c.kind = kind;
    c.phase = kind == K_OBJ ? OBJ_START : ARR_START;
    if (kind == K_OBJ) { c.req_n = n.req_n; c.req_cost = n.req_cost; }
    t.c = c;
    t.mode = M_CONT;
    t.ws = 0;
    return true;
  }

  void close_container(Thread t) {
    const Frame& f = (*p.arena)[t.saved];
    t.c = f.c;
    t.depth = f.depth;
    t.saved = f.parent;
    value_done(t);
    out.push_back(t);
  }

  void lit_byte(Thread t, int32_t from, uint8_t b) {
    int32_t c = g.lit_child(from, b);
    if (c < 0) return;
    t.mode = M_LIT;
    t.tn = c;
    if (g.lits[c].term && g.lits[c].kids.empty()) value_done(t);
    out.push_back(t);
  }

  void value_start(Thread t, uint8_t b) {
    if (is_ws(b)) {
      if (t.c.kind != K_ROOT && t.ws < kMaxWs) { t.ws++; out.push_back(t); }
      return;
    }
    t.ws = 0;
    const Node& n = g.nodes[t.node];
    if (n.lit >= 0) return lit_byte(t, n.lit, b);
    if (b == '"' && (n.types & T_STR)) {
      t.mode = M_STRING; t.sub = S_NORMAL; t.cnt = 0;
      out.push_back(t);
    } else if ((b == '-' || (b >= '0' && b <= '9')) && (n.types & (T_INT | T_NUM))) {
      t.mode = M_NUMBER; t.sub = N_START; t.cnt = 0; t.mag = 0; t.neg = 0; t.aux = 0;
      if (number(t, b) == 1) out.push_back(t);
    } else if ((b == 't' || b == 'f') && (n.types & T_BOOL)) {
      lit_byte(t, g.bool_lit, b);
    } else if (b == 'n' && (n.types & T_NULL)) {
      lit_byte(t, g.null_lit, b);
    } else if (b == '[' && (n.types & T_ARR)) {
      if (push_container(t, t.node, K_ARR)) out.push_back(t);
    } else if (b == '{' && (n.types & T_OBJ)) {
      if (push_container(t, t.node, K_OBJ)) out.push_back(t);
    }
  }

  bool key_allowed(const Cont& c, const Node& n, int32_t k) { return grammar::key_allowed(c, n, k); }
  bool subtree_alive(const Cont& c, const Node& n, int32_t tn) { return grammar::subtree_alive(g, c, n, tn); }
  bool can_add_key(const Cont& c, const Node& n) {
    if (n.addl >= 0) return true;
    if (!n.ordered) return (n.all_mask & ~c.used) != 0;
    return c.last + 1 < int32_t(n.props.size());
  }
  void mark_key(Cont& c, const Node& n, int32_t k) {
    if (!n.ordered) c.used |= uint64_t(1) << k;
    else c.last = k;
    if (n.props[k].required) { c.req_n--; c.req_cost -= n.props[k].cost; }
  }

  void cont(Thread t, uint8_t b) {
    Cont& c = t.c;
    const Node& n = g.nodes[c.node];
    if (is_ws(b)) {
      if (c.phase != OBJ_IN && c.phase != ARR_IN && t.ws < kMaxWs) { t.ws++; out.push_back(t); }
      return;
    }
    switch (c.phase) {
      case OBJ_START: case OBJ_COMMA:
        if (b == '"' && can_add_key(c, n)) {
          t.mode = M_KEY; t.tn = n.keyroot; t.sub = S_NORMAL; t.ws = 0;
          if (!((t.tn >= 0 && subtree_alive(c, n, t.tn)) || n.addl >= 0)) return;
          out.push_back(t);
        } else if (b == '}' && c.phase == OBJ_START && c.req_n == 0) {
          close_container(t);
        }
        return;
      case OBJ_NEXT:
        if (b == ',' && can_add_key(c, n)) { c.phase = OBJ_COMMA; t.ws = 0; out.push_back(t); }
        else if (b == '}' && c.req_n == 0) close_container(t);
        return;
      case OBJ_COLON:
        if (b == ':') {
          c.phase = OBJ_IN;
          t.ws = 0;
          p.enter_value(t, c.vnode, out);
        }
        return;
      case ARR_START:
        if (b == ']') {
          if (n.min_items == 0) close_container(t);
          return;
        }
        if (n.max_items > 0) {
          c.phase = ARR_IN;
          std::vector<Thread> vs;  // rare path (first byte of the first item): allocation is fine
          p.enter_value(t, n.item(0), vs);
          for (Thread& v : vs) value_start(v, b);
        }
        return;
      case ARR_NEXT:
        if (b == ',' && c.n < n.max_items) {
          c.phase = ARR_IN;
          t.ws = 0;
          p.enter_value(t, n.item(c.n), out);
        } else if (b == ']' && c.n >= n.min_items) {
          close_container(t);
        }
        return;
    }
  }

  void string(Thread t, uint8_t b) {
    const Node& n = g.nodes[t.node];
    switch (t.sub) {
      case S_NORMAL:
        if (b == '"') {
          if (t.cnt < n.min_len) return;
          value_done(t);
          break;
        }
        if (b < 0x20 || t.cnt >= n.max_len) return;
        t.cnt++;
        if (b == '\\') t.sub = S_ESC;
        else if (b >= 0x80 && !utf8_lead(t, b)) return;
        break;
      case S_UTF8:
        if (!utf8_cont(t, b)) return;
        break;
      case S_ESC:
        if (b == 'u') { t.sub = S_HEX; t.aux = 0; t.u = 0; break; }
        if (!std::strchr("\"\\/bfnrt", b) || b == 0) return;
        t.sub = S_NORMAL;
        break;
      case S_HEX: {
        int d = hexval(b);
        if (d < 0) return;
        int i = t.aux & 3;
        bool low = t.aux & 16;
        if (low) {
          if (i == 0 && d != 0xD) return;
          if (i == 1 && d < 0xC) return;
        } else if (i == 1 && t.u == 0xD && d >= 0xC) {
          return;  // would be a lone low surrogate
        }
        t.u = t.u * 16 + d;
        if (++i == 4) t.sub = (!low && t.u >= 0xD800 && t.u <= 0xDBFF) ? S_NEED_BS : S_NORMAL;
        else t.aux = uint8_t(i | (low ? 16 : 0));
        break;
      }
      case S_NEED_BS:
        if (b != '\\') return;
        t.sub = S_NEED_U;
        break;
      case S_NEED_U:
        if (b != 'u') return;
        t.sub = S_HEX; t.aux = 16; t.u = 0;
        break;
    }
    out.push_back(t);
  }

  void key(Thread t, uint8_t b) {
    Cont& c = t.c;
    const Node& n = g.nodes[c.node];
    if (t.sub == S_UTF8) {
      if (!utf8_cont(t, b)) return;
    } else if (b == '"') {
      int32_t k = t.tn >= 0 ? g.keys[t.tn].key : -1;
      if (k >= 0) {
        if (!key_allowed(c, n, k)) return;
        mark_key(c, n, k);
        c.vnode = n.props[k].node;
      } else {
        if (n.addl < 0) return;
        c.vnode = n.addl;
      }
      c.phase = OBJ_COLON;
      t.mode = M_CONT;
      t.ws = 0;
      out.push_back(t);
      return;
    } else if (b < 0x20 || b == '\\') {
      return;  // keys are written without escapes (documented)
    } else if (b >= 0x80 && !utf8_lead(t, b)) {
      return;
    }
    // Stay on the declared-key trie even when its keys are used up: closing there would be a
    // duplicate, so such a key must go on to become a different (additional) key.
    if (t.tn >= 0) t.tn = g.key_child(t.tn, b);
    if (!((t.tn >= 0 && subtree_alive(c, n, t.tn)) || n.addl >= 0)) return;
    out.push_back(t);
  }

  // 0: reject, 1: consumed, 2: the number ended before b (reprocess b in the parent).
  int number(Thread& t, uint8_t b) {
    const Node& n = g.nodes[t.node];
    bool int_only = n.bounded || !(n.types & T_NUM);
    bool digit = b >= '0' && b <= '9';
    switch (t.sub) {
      case N_START:
        if (b == '-') {
          if (n.bounded && !int_feasible(n, true, 0, 0)) return 0;
          t.neg = 1;
          t.sub = N_MINUS;
          return 1;
        }
        [[fallthrough]];
      case N_MINUS:
        if (!digit) return 0;
        t.mag = b - '0';
        t.cnt = 1;
        t.sub = b == '0' ? N_ZERO : N_INT;
        if (n.bounded && !int_feasible(n, t.neg, t.mag, 1)) return 0;
        return 1;
      case N_ZERO:
      case N_INT:
        if (digit && t.sub == N_INT) {
          if (t.cnt >= kMaxIntDigits) return 0;
          t.mag = t.mag > UINT64_MAX / 10 - 9 ? UINT64_MAX : t.mag * 10 + (b - '0');
          t.cnt++;
          if (n.bounded && !int_feasible(n, t.neg, t.mag, t.cnt)) return 0;
          return 1;
        }
        if (!int_only && b == '.') { t.sub = N_FRAC0; return 1; }
        if (!int_only && (b == 'e' || b == 'E')) { t.sub = N_EXP0; return 1; }
        if (n.bounded && !int_in_range(n, t.neg, t.mag)) return 0;
        return 2;
      case N_FRAC0:
        if (!digit) return 0;
        t.sub = N_FRAC;
        return 1;
      case N_FRAC:
        if (digit) return 1;
        if (b == 'e' || b == 'E') { t.sub = N_EXP0; return 1; }
        return 2;
      case N_EXP0:
        if (b == '+' || b == '-') { t.sub = N_EXPS; return 1; }
        [[fallthrough]];
      case N_EXPS:
        if (!digit) return 0;
        t.sub = N_EXP;
        t.aux = 1;
        return 1;
      case N_EXP:
        if (digit) {
          if (t.aux >= kMaxExpDigits) return 0;
          t.aux++;
          return 1;
        }
        return 2;
    }
    return 0;
  }

  void run(Thread t, uint8_t b) {
    for (;;) {
      switch (t.mode) {
        case M_VALUE: return value_start(t, b);
        case M_CONT: return cont(t, b);
        case M_STRING: return string(t, b);
        case M_KEY: return key(t, b);
        case M_NUMBER: {
          int r = number(t, b);
          if (r == 1) out.push_back(t);
          if (r != 2) return;
          value_done(t);
          continue;
        }
        case M_LIT: {
          int32_t c = g.lit_child(t.tn, b);
          if (c >= 0) {
            t.tn = c;
            if (g.lits[c].term && g.lits[c].kids.empty()) value_done(t);
            out.push_back(t);
            return;
          }
          if (!g.lits[t.tn].term) return;
          value_done(t);
          continue;
        }
        case M_DONE:
          if (t.cnt < g.tail.size() && uint8_t(g.tail[t.cnt]) == b) {
            t.cnt++;
            out.push_back(t);
          }
          return;
        case M_LEAD:
          if (t.cnt >= g.lead.size() || uint8_t(g.lead[t.cnt]) != b) return;
          if (++t.cnt < g.lead.size()) {
            out.push_back(t);
          } else {
            p.enter_value(Thread(), g.root, out);
          }
          return;
        default: return;
      }
    }
  }
};

}  // namespace

void Pda::step(Thread t, uint8_t b, std::vector<Thread>& out) const {
  Stepper{*this, *g, out}.run(t, b);
}

bool Pda::complete(const Thread& t) const {
  if (t.mode == M_DONE) return t.cnt >= g->tail.size();
  return g->tail.empty() && t.c.kind == K_ROOT && extendable(t);
}

bool Pda::extendable(const Thread& t) const {
  if (t.c.kind != K_ROOT) return false;
  if (t.mode == M_LIT) return g->lits[t.tn].term;
  if (t.mode != M_NUMBER) return false;
  const Node& n = g->nodes[t.node];
  switch (t.sub) {
    case N_ZERO: case N_INT: return !n.bounded || int_in_range(n, t.neg, t.mag);
    case N_FRAC: case N_EXP: return true;
    default: return false;
  }
}

}  // namespace moecat::grammar
