// LongCat GGUFs written by others than moecat (docs/longcat-flash.md, docs/longcat-flash-lite.md):
//  * llama.cpp's LongCat-Flash pull request, arch `longcat-flash`;
//  * the llama.cpp fork that runs LongCat-Flash-Lite, arch `longcat-flash-ngram`.
// Both split each LongCat layer L into two blocks blk.{2L} / blk.{2L+1}. The layouts are data:
// a table of moecat names -> the file's names (Weights::set_gguf_aliases), and the key names
// each writer uses. Nothing is copied: every weight is a view of the mapped file; llama.cpp's
// all-zero dummy expert is cut off the stacked expert tensors as a view and never read.
#pragma once
#include <map>
#include <string>

#include "io/gguf.h"
#include "model/config.h"
#include "model/weights.h"

namespace moecat::longcat {

struct GgufLayout {
  const char* arch;          // general.architecture
  const char* source;        // where the layout is defined (for messages)
  bool ngram;                // LongCat-Flash-Lite (n-gram embedding)
  bool dummy_expert;         // expert tensors carry one trailing all-zero expert
  const char* zero_count_key;  // number of zero (identity) experts
  bool zero_count_required;
  const char* q_scale_key;   // MLA LoRA scales as keys; nullptr: always sqrt(hidden / rank)
  const char* kv_scale_key;
  const char* mlp0_suffix;   // even block's dense MLP (mlps.0): "" (ffn_gate) or "_shexp" (ffn_gate_shexp)
};

// The community layout a GGUF architecture name belongs to, or nullptr (moecat's own / other).
const GgufLayout* community_layout(const std::string& gguf_arch);

// Metadata keys the two layouts name differently from moecat's own (the rest are the usual
// llama.cpp keys moecat's own layout uses too): fills n_layer, zero experts, MLA scales, n-gram
// and MTP fields of c, after the common keys were read.
Status read_layout_meta(const GgufFile& f, const GgufLayout& L, ModelConfig& c);

// moecat name -> file name for every tensor moecat's LongCat model loads; checks the router
// and expert tensors against the expert counts (clear errors for a missing dummy or a wrong
// zero-expert count).
Result<std::map<std::string, Weights::GgufAlias>> layout_aliases(const GgufFile& f, const GgufLayout& L,
                                                                 const ModelConfig& c);

}  // namespace moecat::longcat
