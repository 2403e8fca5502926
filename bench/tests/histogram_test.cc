#include "histogram.h"

#include <cstdint>

#include "gtest/gtest.h"

namespace gengate::bench {
namespace {

TEST(HistogramTest, EveryValueLandsInABucketThatHoldsIt) {
  for (uint64_t value : {uint64_t{0}, uint64_t{1}, uint64_t{255}, uint64_t{256}, uint64_t{257},
                         uint64_t{511}, uint64_t{512}, uint64_t{1000}, uint64_t{123456789},
                         uint64_t{1} << 40, ~uint64_t{0}}) {
    const size_t bucket = Histogram::BucketOf(value);
    const uint64_t low = Histogram::BucketLow(bucket);
    EXPECT_LE(low, value) << value;
    EXPECT_LE(value - low, Histogram::BucketWidth(bucket) - 1) << value;
  }
}

TEST(HistogramTest, BucketsAreNarrowerThanOnePercent) {
  for (uint64_t value = 256; value < (uint64_t{1} << 34); value = value * 3 + 7) {
    const size_t bucket = Histogram::BucketOf(value);
    EXPECT_LT(static_cast<double>(Histogram::BucketWidth(bucket)),
              0.01 * static_cast<double>(value))
        << value;
  }
}

TEST(HistogramTest, PercentilesOfAUniformSpread) {
  Histogram histogram;
  for (uint64_t value = 1; value <= 100000; ++value) histogram.Record(value);
  EXPECT_EQ(histogram.count(), 100000u);
  EXPECT_EQ(histogram.max(), 100000u);
  EXPECT_EQ(histogram.min(), 1u);
  EXPECT_NEAR(static_cast<double>(histogram.Percentile(0.50)), 50000, 500);
  EXPECT_NEAR(static_cast<double>(histogram.Percentile(0.99)), 99000, 990);
  EXPECT_DOUBLE_EQ(histogram.mean(), 50000.5);
}

TEST(HistogramTest, MergeAddsCountsAndKeepsExtremes) {
  Histogram low;
  Histogram high;
  for (int i = 0; i < 90; ++i) low.Record(100);
  for (int i = 0; i < 10; ++i) high.Record(1000000);
  low.Merge(high);
  EXPECT_EQ(low.count(), 100u);
  EXPECT_EQ(low.min(), 100u);
  EXPECT_EQ(low.max(), 1000000u);
  EXPECT_EQ(low.Percentile(0.90), 100u);
  EXPECT_NEAR(static_cast<double>(low.Percentile(0.95)), 1000000, 10000);
}

TEST(HistogramTest, EmptyReportsZeros) {
  const Histogram histogram;
  EXPECT_EQ(histogram.Percentile(0.5), 0u);
  EXPECT_EQ(histogram.max(), 0u);
  EXPECT_EQ(histogram.mean(), 0);
}

}  // namespace
}  // namespace gengate::bench
