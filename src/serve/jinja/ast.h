// Tokens and AST of the Jinja engine (the node set of @huggingface/jinja's parser).
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace moecat::jinja {

enum class T : uint8_t {
  Text, Num, Str, Ident, Equals, OParen, CParen, OStmt, CStmt, OExpr, CExpr, OSq, CSq, OCurly, CCurly,
  Comma, Dot, Colon, Pipe, Add, Mul, Pow, Cmp, Unary, Comment
};

struct Token {
  std::string value;
  T type;
  int line;
};

// Applies the HF Template's preprocessing (trailing newline, lstrip_blocks, trim_blocks,
// {% generation %} removal) and tokenizes. Throws JinjaError.
std::vector<Token> Tokenize(std::string_view source);

enum class NK : uint8_t {
  Program, Text, Comment, Set, If, For, Macro, CallStmt, FilterStmt, Break, Continue,
  IntLit, FloatLit, StrLit, ArrayLit, TupleLit, ObjectLit, Ident, Call, Member, Unary, Binary,
  Filter, Test, Select, Ternary, Slice, KwArg, Spread, KwSpread
};

struct Node;
using NodeP = std::unique_ptr<Node>;

// One struct for every node kind; field use per kind:
//  Set: x=assignee y=value|null a=body           If: x=test a=body b=alternate
//  For: x=loopvar y=iterable a=body b=else       Macro: str=name b=params a=body
//  CallStmt: x=Call node, b=caller params, a=body, flag=has params   FilterStmt: x=filter a=body
//  Call: x=callee b=args   Member: x=object y=property flag=computed   Unary: str=op x
//  Binary: str=op x y   Filter: x=operand y=filter(Ident|Call)   Test: x=operand str=name flag=negate
//  Select: x=lhs y=test   Ternary: x=cond y=true z=false   Slice: x y z (each may be null)
//  KwArg: str=key x=value   Spread/KwSpread: x   Array/TupleLit: b   ObjectLit: kv
struct Node {
  NK kind;
  int line = 0;
  int h = 1;  // subtree height, bounded at parse time so recursion over the tree stays shallow
  bool flag = false;
  double num = 0;
  std::string str;
  NodeP x, y, z;
  std::vector<NodeP> a, b;
  std::vector<std::pair<NodeP, NodeP>> kv;
};

NodeP ParseProgram(const std::vector<Token>& tokens);  // throws JinjaError

}  // namespace moecat::jinja
