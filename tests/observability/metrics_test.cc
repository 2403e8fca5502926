// The Prometheus registry: exact text exposition output, escaping, histogram buckets, series
// caps and lock-free updates from many threads.
#include "observability/metrics.h"

#include <cmath>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gengate::observability {
namespace {

using ::testing::HasSubstr;

TEST(MetricsRegistryTest, RendersCounterWithLabelsExactly) {
  MetricsRegistry registry;
  CounterFamily& requests =
      registry.AddCounter("test_requests_total", "Calls finished.", {"method", "code"});
  requests.WithLabels({"Chat", "OK"}).Increment(3);
  requests.WithLabels({"Chat", "INTERNAL"}).Increment();

  EXPECT_EQ(registry.Render(),
            "# HELP test_requests_total Calls finished.\n"
            "# TYPE test_requests_total counter\n"
            "test_requests_total{method=\"Chat\",code=\"INTERNAL\"} 1\n"
            "test_requests_total{method=\"Chat\",code=\"OK\"} 3\n");
}

TEST(MetricsRegistryTest, RendersSeriesWithoutLabelsWithoutBraces) {
  MetricsRegistry registry;
  registry.AddCounter("test_events_total", "Events.").WithLabels({}).Increment(7);

  EXPECT_EQ(registry.Render(),
            "# HELP test_events_total Events.\n"
            "# TYPE test_events_total counter\n"
            "test_events_total 7\n");
}

TEST(MetricsRegistryTest, RendersGaugeGoingNegative) {
  MetricsRegistry registry;
  Gauge& gauge = registry.AddGauge("test_level", "A level.", {"pool"}).WithLabels({"a"});
  gauge.Set(2);
  gauge.Add(-5);

  EXPECT_EQ(registry.Render(),
            "# HELP test_level A level.\n"
            "# TYPE test_level gauge\n"
            "test_level{pool=\"a\"} -3\n");
}

TEST(MetricsRegistryTest, EscapesLabelValuesAndHelp) {
  MetricsRegistry registry;
  registry.AddCounter("test_total", "Help with \\ and\nnewline \"quoted\".", {"model"})
      .WithLabels({"a\\b\"c\nd"})
      .Increment();

  // HELP escapes backslash and newline only; label values also escape the double quote.
  EXPECT_EQ(registry.Render(),
            "# HELP test_total Help with \\\\ and\\nnewline \"quoted\".\n"
            "# TYPE test_total counter\n"
            "test_total{model=\"a\\\\b\\\"c\\nd\"} 1\n");
}

TEST(MetricsRegistryTest, RendersHistogramBucketsCumulativelyWithSumAndCount) {
  MetricsRegistry registry;
  HistogramFamily& latency = registry.AddHistogram("test_seconds", "Latency.", {"method"},
                                                   {0.25, 0.5, 2.5});
  Histogram& chat = latency.WithLabels({"Chat"});
  chat.Observe(0.125);
  chat.Observe(0.25);  // on the bound: counts in le="0.25"
  chat.Observe(1);
  chat.Observe(7);  // above every bound: only +Inf

  EXPECT_EQ(registry.Render(),
            "# HELP test_seconds Latency.\n"
            "# TYPE test_seconds histogram\n"
            "test_seconds_bucket{method=\"Chat\",le=\"0.25\"} 2\n"
            "test_seconds_bucket{method=\"Chat\",le=\"0.5\"} 2\n"
            "test_seconds_bucket{method=\"Chat\",le=\"2.5\"} 3\n"
            "test_seconds_bucket{method=\"Chat\",le=\"+Inf\"} 4\n"
            "test_seconds_sum{method=\"Chat\"} 8.375\n"
            "test_seconds_count{method=\"Chat\"} 4\n");
}

TEST(MetricsRegistryTest, RendersHistogramWithoutLabels) {
  MetricsRegistry registry;
  registry.AddHistogram("test_size", "Sizes.", {}, {1, 10}).WithLabels({}).Observe(3);

  EXPECT_EQ(registry.Render(),
            "# HELP test_size Sizes.\n"
            "# TYPE test_size histogram\n"
            "test_size_bucket{le=\"1\"} 0\n"
            "test_size_bucket{le=\"10\"} 1\n"
            "test_size_bucket{le=\"+Inf\"} 1\n"
            "test_size_sum 3\n"
            "test_size_count 1\n");
}

TEST(MetricsRegistryTest, RendersFamiliesInRegistrationOrderWithCallbacks) {
  MetricsRegistry registry;
  registry.AddCallbackGauge("test_b_bytes", "B.", [] { return 4096.0; });
  registry.AddCallbackCounter("test_a_seconds_total", "A.", [] { return 1.5; });

  EXPECT_EQ(registry.Render(),
            "# HELP test_b_bytes B.\n"
            "# TYPE test_b_bytes gauge\n"
            "test_b_bytes 4096\n"
            "# HELP test_a_seconds_total A.\n"
            "# TYPE test_a_seconds_total counter\n"
            "test_a_seconds_total 1.5\n");
}

TEST(MetricsRegistryTest, FamilyWithNoSeriesRendersOnlyItsHeader) {
  MetricsRegistry registry;
  registry.AddCounter("test_unused_total", "Never incremented.", {"x"});

  EXPECT_EQ(registry.Render(),
            "# HELP test_unused_total Never incremented.\n"
            "# TYPE test_unused_total counter\n");
}

TEST(MetricsRegistryTest, SameLabelsResolveToTheSameCell) {
  MetricsRegistry registry;
  CounterFamily& family = registry.AddCounter("test_total", "T.", {"a", "b"});

  Counter& first = family.WithLabels({"x", "y"});
  Counter& again = family.WithLabels({std::string("x"), std::string("y")});
  Counter& other = family.WithLabels({"x", "z"});

  EXPECT_EQ(&first, &again);
  EXPECT_NE(&first, &other);
}

TEST(MetricsRegistryTest, SeriesPastTheCapShareOneOtherSeries) {
  MetricsRegistry registry;
  CounterFamily& family = registry.AddCounter("test_total", "T.", {"model"});
  family.set_max_series(2);
  family.WithLabels({"a"}).Increment();
  family.WithLabels({"b"}).Increment();
  family.WithLabels({"c"}).Increment();
  family.WithLabels({"d"}).Increment();
  family.WithLabels({"a"}).Increment();  // known sets keep their own series

  EXPECT_EQ(registry.Render(),
            "# HELP test_total T.\n"
            "# TYPE test_total counter\n"
            "test_total{model=\"a\"} 2\n"
            "test_total{model=\"b\"} 1\n"
            "test_total{model=\"other\"} 2\n");
}

TEST(MetricsRegistryTest, ConcurrentIncrementsAreAllCounted) {
  MetricsRegistry registry;
  CounterFamily& family = registry.AddCounter("test_total", "T.", {"worker"});
  Histogram& histogram = registry.AddHistogram("test_seconds", "S.", {}, {1}).WithLabels({});
  constexpr int kThreads = 4;
  constexpr int kIncrements = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      // Resolving inside the loop also exercises concurrent lookups of one label set.
      for (int i = 0; i < kIncrements; ++i) {
        family.WithLabels({"shared"}).Increment();
        histogram.Observe(0.5);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();

  EXPECT_EQ(family.WithLabels({"shared"}).value(), std::uint64_t{kThreads * kIncrements});
  Histogram::Snapshot snapshot = histogram.Read();
  EXPECT_EQ(snapshot.count(), std::uint64_t{kThreads * kIncrements});
  EXPECT_DOUBLE_EQ(snapshot.sum, 0.5 * kThreads * kIncrements);
}

struct SampleValueCase {
  double value;
  std::string text;
};

class FormatSampleValueTest : public ::testing::TestWithParam<SampleValueCase> {};

TEST_P(FormatSampleValueTest, UsesPrometheusSpelling) {
  EXPECT_EQ(FormatSampleValue(GetParam().value), GetParam().text);
}

INSTANTIATE_TEST_SUITE_P(
    Values, FormatSampleValueTest,
    ::testing::Values(SampleValueCase{0, "0"}, SampleValueCase{42, "42"},
                      SampleValueCase{-3, "-3"}, SampleValueCase{0.005, "0.005"},
                      SampleValueCase{2.5, "2.5"},
                      SampleValueCase{0.1 + 0.2, "0.30000000000000004"},
                      SampleValueCase{1e20, "1e+20"},
                      SampleValueCase{std::numeric_limits<double>::infinity(), "+Inf"},
                      SampleValueCase{-std::numeric_limits<double>::infinity(), "-Inf"},
                      SampleValueCase{std::nan(""), "NaN"}));

TEST(MetricsRegistryDeathTest, RejectsInvalidNames) {
  EXPECT_DEATH(
      {
        MetricsRegistry registry;
        registry.AddCounter("bad name", "B.");
      },
      "invalid metric name");
  EXPECT_DEATH(
      {
        MetricsRegistry registry;
        registry.AddCounter("test_total", "B.", {"le"});
      },
      "invalid label name");
  EXPECT_DEATH(
      {
        MetricsRegistry registry;
        registry.AddCounter("test_total", "A.");
        registry.AddGauge("test_total", "B.");
      },
      "registered twice");
  EXPECT_DEATH(
      {
        MetricsRegistry registry;
        registry.AddHistogram("test_seconds", "B.", {}, {1, 0.5});
      },
      "strictly ascending");
}

TEST(MetricsRegistryDeathTest, RejectsWrongNumberOfLabelValues) {
  EXPECT_DEATH(
      {
        MetricsRegistry registry;
        registry.AddCounter("test_total", "B.", {"a", "b"}).WithLabels({"only one"});
      },
      "wrong number of label values");
}

TEST(EscapeLabelValueTest, LeavesOtherCharactersAlone) {
  EXPECT_EQ(EscapeLabelValue("gpt-4o-mini/ü\t"), "gpt-4o-mini/ü\t");
  EXPECT_EQ(EscapeLabelValue(""), "");
  EXPECT_THAT(EscapeHelp("a \"b\""), HasSubstr("\"b\""));
}

}  // namespace
}  // namespace gengate::observability
