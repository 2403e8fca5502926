#include "observability/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <type_traits>
#include <utility>

#include "absl/strings/str_cat.h"

namespace gengate::observability {
namespace {

// Registration errors are programming errors found by the first test run, not runtime
// conditions, so they stop the process with the reason.
void Require(bool condition, std::string_view what, std::string_view name) {
  if (condition) return;
  std::fprintf(stderr, "metrics: %.*s: \"%.*s\"\n", static_cast<int>(what.size()), what.data(),
               static_cast<int>(name.size()), name.data());
  std::abort();
}

bool IsMetricName(std::string_view name) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    if (!letter && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

bool IsLabelName(std::string_view name) {
  if (name.empty() || name == "le" || name.substr(0, 2) == "__") return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (!letter && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

void AppendHeader(std::string_view name, std::string_view help, std::string_view type,
                  std::string& out) {
  absl::StrAppend(&out, "# HELP ", std::string(name), " ", EscapeHelp(help), "\n", "# TYPE ",
                  std::string(name), " ", std::string(type), "\n");
}

// `name{labels} value`, without braces when there are no labels.
void AppendSample(std::string_view name, std::string_view labels, std::string_view value,
                  std::string& out) {
  out.append(name);
  if (!labels.empty()) out.append("{").append(labels).append("}");
  out.append(" ").append(value).append("\n");
}

template <typename Values>
bool LexicographicLess(const std::vector<std::string>& a, const Values& b) {
  return std::lexicographical_compare(
      a.begin(), a.end(), b.begin(), b.end(),
      [](std::string_view x, std::string_view y) { return x < y; });
}

template <typename Values>
bool LexicographicGreater(const std::vector<std::string>& a, const Values& b) {
  return std::lexicographical_compare(
      b.begin(), b.end(), a.begin(), a.end(),
      [](std::string_view x, std::string_view y) { return x < y; });
}

}  // namespace

std::string EscapeLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      case '\n': out += "\\n"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

std::string EscapeHelp(std::string_view help) {
  std::string out;
  out.reserve(help.size());
  for (char c : help) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

std::string FormatSampleValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  // Integral values below 2^53 are exact; print them as integers ("3", not "3e+00").
  if (std::fabs(value) < 9007199254740992.0 && value == std::trunc(value)) {
    return absl::StrCat(static_cast<std::int64_t>(value));
  }
  char buffer[64];
  const std::to_chars_result result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  return std::string(buffer, result.ptr);
}

void Counter::AppendSamples(std::string_view name, std::string_view labels,
                            std::string& out) const {
  AppendSample(name, labels, absl::StrCat(value()), out);
}

void Gauge::AppendSamples(std::string_view name, std::string_view labels,
                          std::string& out) const {
  AppendSample(name, labels, absl::StrCat(value()), out);
}

Histogram::Histogram(const std::vector<double>& bounds)
    : bounds_(bounds),
      buckets_(std::make_unique<std::atomic<std::uint64_t>[]>(bounds.size() + 1)) {}

void Histogram::Observe(double value) {
  if (std::isnan(value)) return;
  // A bucket counts the values less than or equal to its bound ("le").
  const std::size_t index = static_cast<std::size_t>(
      std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin());
  buckets_[index].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::Read() const {
  Snapshot snapshot;
  snapshot.cumulative.reserve(bounds_.size() + 1);
  std::uint64_t total = 0;
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    total += buckets_[i].load(std::memory_order_relaxed);
    snapshot.cumulative.push_back(total);
  }
  snapshot.sum = sum_.load(std::memory_order_relaxed);
  return snapshot;
}

void Histogram::AppendSamples(std::string_view name, std::string_view labels,
                              std::string& out) const {
  const Snapshot snapshot = Read();
  const std::string bucket_name = absl::StrCat(std::string(name), "_bucket");
  const std::string prefix = labels.empty() ? "" : absl::StrCat(std::string(labels), ",");
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    const std::string le = i < bounds_.size() ? FormatSampleValue(bounds_[i]) : "+Inf";
    AppendSample(bucket_name, absl::StrCat(prefix, "le=\"", le, "\""),
                 absl::StrCat(snapshot.cumulative[i]), out);
  }
  AppendSample(absl::StrCat(std::string(name), "_sum"), labels, FormatSampleValue(snapshot.sum),
               out);
  AppendSample(absl::StrCat(std::string(name), "_count"), labels,
               absl::StrCat(snapshot.count()), out);
}

template <typename Cell>
bool Family<Cell>::LabelsLess::operator()(const std::vector<std::string>& a,
                                          std::initializer_list<std::string_view> b) const {
  return LexicographicLess(a, b);
}

template <typename Cell>
bool Family<Cell>::LabelsLess::operator()(std::initializer_list<std::string_view> a,
                                          const std::vector<std::string>& b) const {
  return LexicographicGreater(b, a);
}

template <typename Cell>
Family<Cell>::Family(std::string name, std::string help, std::vector<std::string> label_names,
                     std::vector<double> bounds)
    : name_(std::move(name)), help_(std::move(help)), label_names_(std::move(label_names)),
      bounds_(std::move(bounds)) {}

template <typename Cell>
Cell& Family<Cell>::WithLabels(std::initializer_list<std::string_view> values) {
  Require(values.size() == label_names_.size(), "wrong number of label values for", name_);
  {
    absl::ReaderMutexLock lock(&mu_);
    auto it = series_.find(values);
    if (it != series_.end()) return *it->second.cell;
  }
  absl::MutexLock lock(&mu_);
  if (auto it = series_.find(values); it != series_.end()) return *it->second.cell;
  if (series_.size() >= max_series_) {
    return Insert(std::vector<std::string>(label_names_.size(), "other"));
  }
  return Insert(std::vector<std::string>(values.begin(), values.end()));
}

template <typename Cell>
Cell& Family<Cell>::Insert(std::vector<std::string> values) {
  if (auto it = series_.find(values); it != series_.end()) return *it->second.cell;
  Series series;
  for (std::size_t i = 0; i < values.size(); ++i) {
    absl::StrAppend(&series.rendered_labels, i == 0 ? "" : ",", label_names_[i], "=\"",
                    EscapeLabelValue(values[i]), "\"");
  }
  if constexpr (std::is_same_v<Cell, Histogram>) {
    series.cell = std::make_unique<Histogram>(bounds_);
  } else {
    series.cell = std::make_unique<Cell>();
  }
  Cell& cell = *series.cell;
  series_.emplace(std::move(values), std::move(series));
  return cell;
}

template <typename Cell>
void Family<Cell>::set_max_series(std::size_t max_series) {
  absl::MutexLock lock(&mu_);
  max_series_ = max_series;
}

template <typename Cell>
std::size_t Family<Cell>::max_series() const {
  absl::ReaderMutexLock lock(&mu_);
  return max_series_;
}

template <typename Cell>
void Family<Cell>::Render(std::string& out) const {
  AppendHeader(name_, help_, Cell::kType, out);
  absl::ReaderMutexLock lock(&mu_);
  for (const auto& [values, series] : series_) {
    series.cell->AppendSamples(name_, series.rendered_labels, out);
  }
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

CallbackMetric::CallbackMetric(std::string name, std::string help, std::string_view type,
                               std::function<double()> read)
    : name_(std::move(name)), help_(std::move(help)), type_(type), read_(std::move(read)) {}

void CallbackMetric::Render(std::string& out) const {
  AppendHeader(name_, help_, type_, out);
  AppendSample(name_, "", FormatSampleValue(read_()), out);
}

template <typename F>
F& MetricsRegistry::Add(std::unique_ptr<F> family, const std::vector<std::string>& label_names) {
  Require(IsMetricName(family->name()), "invalid metric name", family->name());
  for (const std::string& label : label_names) {
    Require(IsLabelName(label), "invalid label name", label);
  }
  F& added = *family;
  absl::MutexLock lock(&mu_);
  for (const auto& existing : families_) {
    Require(existing->name() != family->name(), "metric registered twice", family->name());
  }
  families_.push_back(std::move(family));
  return added;
}

CounterFamily& MetricsRegistry::AddCounter(std::string name, std::string help,
                                           std::vector<std::string> label_names) {
  return Add(std::make_unique<CounterFamily>(std::move(name), std::move(help), label_names),
             label_names);
}

GaugeFamily& MetricsRegistry::AddGauge(std::string name, std::string help,
                                       std::vector<std::string> label_names) {
  return Add(std::make_unique<GaugeFamily>(std::move(name), std::move(help), label_names),
             label_names);
}

HistogramFamily& MetricsRegistry::AddHistogram(std::string name, std::string help,
                                               std::vector<std::string> label_names,
                                               std::vector<double> bounds) {
  Require(!bounds.empty() && std::is_sorted(bounds.begin(), bounds.end()) &&
              std::adjacent_find(bounds.begin(), bounds.end()) == bounds.end() &&
              std::all_of(bounds.begin(), bounds.end(), [](double b) { return std::isfinite(b); }),
          "histogram bounds must be finite and strictly ascending", name);
  return Add(std::make_unique<HistogramFamily>(std::move(name), std::move(help), label_names,
                                               std::move(bounds)),
             label_names);
}

void MetricsRegistry::AddCallbackGauge(std::string name, std::string help,
                                       std::function<double()> read) {
  Add(std::make_unique<CallbackMetric>(std::move(name), std::move(help), Gauge::kType,
                                       std::move(read)),
      {});
}

void MetricsRegistry::AddCallbackCounter(std::string name, std::string help,
                                         std::function<double()> read) {
  Add(std::make_unique<CallbackMetric>(std::move(name), std::move(help), Counter::kType,
                                       std::move(read)),
      {});
}

std::string MetricsRegistry::Render() const {
  std::string out;
  out.reserve(16 << 10);
  absl::ReaderMutexLock lock(&mu_);
  for (const auto& family : families_) family->Render(out);
  return out;
}

}  // namespace gengate::observability
