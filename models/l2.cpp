#include "models/l2.hpp"

namespace bwsim {

L2Slice::L2Slice(uint64_t sets, uint32_t ways, ReplacementPolicy policy, uint64_t seed)
    : sets_(sets),
      ways_(ways),
      policy_(policy),
      rng_(seed),
      keys_(sets * ways, L2Way::kInvalid),
      tags_(sets * ways) {}

const L2Way* L2Slice::find(uint64_t set, uint64_t key) const {
  const uint64_t* k = keys_.data() + set * ways_;
  for (uint32_t i = 0; i < ways_; ++i) {
    if (k[i] == key) return &tags_[set * ways_ + i];
  }
  return nullptr;
}

L2Way& L2Slice::access(uint64_t set, uint64_t key, uint64_t ordinal, L2Eviction& ev) {
  L2Way* w = tags_.data() + set * ways_;
  uint64_t* k = keys_.data() + set * ways_;
  ++clock_;
  L2Way* victim = nullptr;
  uint32_t free_way = ways_;
  for (uint32_t i = 0; i < ways_; ++i) {
    if (k[i] == key) {
      if (policy_ == ReplacementPolicy::kLru) w[i].stamp = clock_;
      return w[i];
    }
    if (free_way == ways_ && k[i] == L2Way::kInvalid) free_way = i;
  }
  if (free_way < ways_) {
    victim = &w[free_way];
  } else {
    if (policy_ == ReplacementPolicy::kRandom) {
      victim = &w[rng_.below(ways_)];
    } else {  // LRU and FIFO both evict the smallest stamp (FIFO never refreshes it)
      victim = &w[0];
      for (uint32_t i = 1; i < ways_; ++i) {
        if (w[i].stamp < victim->stamp) victim = &w[i];
      }
    }
    ev.happened = true;
    ev.ordinal = victim->ordinal;
    ev.dirty = victim->dirty;
  }
  keys_[static_cast<size_t>(victim - tags_.data())] = key;
  *victim = L2Way{key, ordinal, 0, 0, clock_, Tick{0}};
  return *victim;
}

}  // namespace bwsim
