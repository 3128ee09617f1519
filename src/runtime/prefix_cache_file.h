// The prefix cache on disk (`moecat serve --prefix-cache-file PATH`): the cached KV blocks of
// shared prompt prefixes (a support system prompt, tool declarations) are written at shutdown and
// read back at start, so the first requests after a restart skip that prefill.
//
// A cache file is only as good as its match with the model that will read it: its header holds an
// identity string (model file contents, KV cache type and geometry, kernels) and the whole file is
// covered by a checksum. A file that differs in any of that, is truncated, or is not a cache file
// at all is ignored with a warning and never partly used.
//
// Layout (little-endian): "MOECATPC" | u32 version | u32 identity length | identity bytes |
// u64 block_rows | u64 n_layer | u64 K bytes per block and layer | u64 V bytes ... | u64 n_blocks |
// n_blocks x { i64 parent index (-1: first block) | i32 tokens[block_rows] |
//              n_layer x { K bytes | V bytes } } | u64 checksum of everything before it.
#pragma once
#include <cstdint>
#include <string>

#include "base/status.h"
#include "model/model.h"
#include "runtime/paged_kv.h"

namespace moecat {

// What a cache written for `model` with this pool must match to be read back.
std::string prefix_cache_identity(const Model& model, const PagedKvCache& cache);

// Writes every reachable cached block (atomically: a temporary file renamed over `path`).
// Returns the number of blocks written.
Result<int64_t> save_prefix_cache(const PagedKvCache& cache, const std::string& path, const std::string& identity);

// Reads a file written by save_prefix_cache into the (idle) pool: as many blocks as fit, parents
// first. An error says why the file was ignored; the pool is then unchanged. n_vocab bounds the
// token ids a valid file can hold.
Result<int64_t> load_prefix_cache(PagedKvCache& cache, const std::string& path, const std::string& identity,
                                  int64_t n_vocab);

}  // namespace moecat
