// A log-linear latency histogram (HdrHistogram's layout, simplified): values below 256 are
// exact, larger ones fall into 128 buckets per power of two, so a percentile is off by at most
// 1/128 (< 0.8 %). Recording is an increment; no samples are kept. Not thread-safe: each load
// generator thread records into its own and merges at the end.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace gengate::bench {

class Histogram {
 public:
  Histogram() : counts_(kBucketCount, 0) {}

  void Record(uint64_t value) {
    ++counts_[BucketOf(value)];
    ++count_;
    sum_ += static_cast<double>(value);
    if (value > max_) max_ = value;
    if (count_ == 1 || value < min_) min_ = value;
  }

  void Merge(const Histogram& other) {
    for (size_t i = 0; i < kBucketCount; ++i) counts_[i] += other.counts_[i];
    if (other.count_ > 0 && (count_ == 0 || other.min_ < min_)) min_ = other.min_;
    if (other.max_ > max_) max_ = other.max_;
    count_ += other.count_;
    sum_ += other.sum_;
  }

  void Reset() { *this = Histogram(); }

  uint64_t count() const { return count_; }
  uint64_t max() const { return max_; }
  uint64_t min() const { return count_ == 0 ? 0 : min_; }
  double mean() const { return count_ == 0 ? 0 : sum_ / static_cast<double>(count_); }

  // The smallest recorded value v with at least `fraction` of the samples <= v, reported as
  // the middle of its bucket (clamped to the exact max). 0 when empty.
  uint64_t Percentile(double fraction) const {
    if (count_ == 0) return 0;
    const double wanted = fraction * static_cast<double>(count_);
    uint64_t seen = 0;
    for (size_t i = 0; i < kBucketCount; ++i) {
      seen += counts_[i];
      if (counts_[i] != 0 && static_cast<double>(seen) >= wanted) {
        const uint64_t middle = BucketLow(i) + (BucketWidth(i) - 1) / 2;
        return middle > max_ ? max_ : (middle < min_ ? min_ : middle);
      }
    }
    return max_;
  }

  // Exposed for tests: the bucket a value lands in and that bucket's range.
  static size_t BucketOf(uint64_t value) {
    if (value < kExactLimit) return static_cast<size_t>(value);
    const int top_bit = 63 - std::countl_zero(value);  // >= kSubBits
    const int shift = top_bit - (kSubBits - 1);        // value >> shift is in [128, 256)
    const uint64_t sub = (value >> shift) - kHalf;     // [0, 128)
    return static_cast<size_t>(kExactLimit + (shift - 1) * kHalf + sub);
  }
  static uint64_t BucketLow(size_t bucket) {
    if (bucket < kExactLimit) return bucket;
    const uint64_t above = bucket - kExactLimit;
    const int shift = static_cast<int>(above / kHalf) + 1;
    return (kHalf + above % kHalf) << shift;
  }
  static uint64_t BucketWidth(size_t bucket) {
    if (bucket < kExactLimit) return 1;
    return uint64_t{1} << (static_cast<int>((bucket - kExactLimit) / kHalf) + 1);
  }

 private:
  static constexpr int kSubBits = 8;
  static constexpr uint64_t kExactLimit = uint64_t{1} << kSubBits;  // 256
  static constexpr uint64_t kHalf = kExactLimit / 2;                 // 128 buckets per octave
  // Shifts 1..56 cover every uint64_t.
  static constexpr size_t kBucketCount = kExactLimit + 56 * kHalf;

  std::vector<uint64_t> counts_;
  uint64_t count_ = 0;
  uint64_t max_ = 0;
  uint64_t min_ = 0;
  double sum_ = 0;
};

}  // namespace gengate::bench
