// A small Prometheus metrics registry: counters, gauges and fixed-bucket histograms with labels,
// rendered in the text exposition format (version 0.0.4).
//
// The hot path is lock-free: a label set is resolved once to a cell (WithLabels takes the
// family's own lock), and the cell is updated with relaxed atomics. Cells live as long as the
// registry, so callers keep plain references to them. Families are registered at startup and
// never removed.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace gengate::observability {

// A monotonically increasing integer (requests, tokens, bytes).
class Counter {
 public:
  static constexpr std::string_view kType = "counter";

  void Increment(std::uint64_t by = 1) { value_.fetch_add(by, std::memory_order_relaxed); }
  std::uint64_t value() const { return value_.load(std::memory_order_relaxed); }

  void AppendSamples(std::string_view name, std::string_view labels, std::string& out) const;

 private:
  std::atomic<std::uint64_t> value_{0};
};

// An integer that goes up and down (active calls).
class Gauge {
 public:
  static constexpr std::string_view kType = "gauge";

  void Set(std::int64_t value) { value_.store(value, std::memory_order_relaxed); }
  void Add(std::int64_t by) { value_.fetch_add(by, std::memory_order_relaxed); }
  std::int64_t value() const { return value_.load(std::memory_order_relaxed); }

  void AppendSamples(std::string_view name, std::string_view labels, std::string& out) const;

 private:
  std::atomic<std::int64_t> value_{0};
};

// Observations counted into fixed buckets, plus their sum. Buckets hold non-cumulative counts;
// rendering accumulates them and takes the count as their total, so a scrape never shows a
// _count that disagrees with the +Inf bucket.
class Histogram {
 public:
  static constexpr std::string_view kType = "histogram";

  // `bounds` are the buckets' upper bounds, ascending; the family that owns the histogram
  // keeps them alive.
  explicit Histogram(const std::vector<double>& bounds);

  void Observe(double value);

  struct Snapshot {
    std::vector<std::uint64_t> cumulative;  // one per bound, then +Inf
    double sum = 0;
    std::uint64_t count() const { return cumulative.empty() ? 0 : cumulative.back(); }
  };
  Snapshot Read() const;

  void AppendSamples(std::string_view name, std::string_view labels, std::string& out) const;

 private:
  const std::vector<double>& bounds_;
  // bounds_.size() + 1 buckets; the last one holds values above every bound.
  std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;
  std::atomic<double> sum_{0};
};

// Escapes a label value for the text format: backslash, double quote and newline.
std::string EscapeLabelValue(std::string_view value);
// Escapes HELP text: backslash and newline.
std::string EscapeHelp(std::string_view help);
// Formats a sample value: integral values without a decimal point, others in the shortest
// form that reads back as the same double, and +Inf, -Inf, NaN as Prometheus spells them.
std::string FormatSampleValue(double value);

// One metric name: its HELP and TYPE lines and all of its series.
class MetricFamily {
 public:
  virtual ~MetricFamily() = default;
  virtual const std::string& name() const = 0;
  virtual void Render(std::string& out) const = 0;
};

// Series of one cell type, one per label value set.
template <typename Cell>
class Family final : public MetricFamily {
 public:
  // `bounds` is used by histograms only.
  Family(std::string name, std::string help, std::vector<std::string> label_names,
         std::vector<double> bounds = {});

  // The cell for these label values (one per label name, in order). The reference stays
  // valid for the registry's life: resolve once, then update without locks. Past
  // max_series() distinct label sets, new ones share a single series whose values are all
  // "other", so callers that pass arbitrary strings cannot grow the registry without bound.
  Cell& WithLabels(std::initializer_list<std::string_view> values);

  void set_max_series(std::size_t max_series);
  std::size_t max_series() const;
  const std::string& name() const override { return name_; }
  void Render(std::string& out) const override;

 private:
  struct LabelsLess {
    using is_transparent = void;
    bool operator()(const std::vector<std::string>& a, const std::vector<std::string>& b) const {
      return a < b;
    }
    bool operator()(const std::vector<std::string>& a,
                    std::initializer_list<std::string_view> b) const;
    bool operator()(std::initializer_list<std::string_view> a,
                    const std::vector<std::string>& b) const;
  };
  struct Series {
    std::string rendered_labels;  // a="x",b="y" (empty without labels)
    std::unique_ptr<Cell> cell;
  };
  Cell& Insert(std::vector<std::string> values) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string name_;
  const std::string help_;
  const std::vector<std::string> label_names_;
  const std::vector<double> bounds_;

  mutable absl::Mutex mu_;
  std::size_t max_series_ ABSL_GUARDED_BY(mu_) = 1000;
  // Ordered so the output is stable.
  std::map<std::vector<std::string>, Series, LabelsLess> series_ ABSL_GUARDED_BY(mu_);
};

using CounterFamily = Family<Counter>;
using GaugeFamily = Family<Gauge>;
using HistogramFamily = Family<Histogram>;

// A series without labels whose value is computed at scrape time (process memory, fds).
class CallbackMetric final : public MetricFamily {
 public:
  CallbackMetric(std::string name, std::string help, std::string_view type,
                 std::function<double()> read);
  const std::string& name() const override { return name_; }
  void Render(std::string& out) const override;

 private:
  const std::string name_;
  const std::string help_;
  const std::string type_;
  const std::function<double()> read_;
};

// Owns every family; renders them in registration order.
class MetricsRegistry {
 public:
  MetricsRegistry() = default;
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // Names match [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]* (not "le", not
  // starting with "__"), histogram bounds are finite and ascending. Registration happens at
  // startup with constant names, so a bad or repeated name is a programming error and aborts.
  CounterFamily& AddCounter(std::string name, std::string help,
                            std::vector<std::string> label_names = {});
  GaugeFamily& AddGauge(std::string name, std::string help,
                        std::vector<std::string> label_names = {});
  HistogramFamily& AddHistogram(std::string name, std::string help,
                                std::vector<std::string> label_names, std::vector<double> bounds);
  // `read` runs on the scraping thread at every Render and must be thread-safe.
  void AddCallbackGauge(std::string name, std::string help, std::function<double()> read);
  void AddCallbackCounter(std::string name, std::string help, std::function<double()> read);

  // The whole exposition, to be served with kPrometheusContentType.
  std::string Render() const;

 private:
  template <typename F>
  F& Add(std::unique_ptr<F> family, const std::vector<std::string>& label_names);

  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<MetricFamily>> families_ ABSL_GUARDED_BY(mu_);
};

inline constexpr char kPrometheusContentType[] = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace gengate::observability
