// A strict reader of the Prometheus text exposition format 0.0.4, for tests of /metrics: it
// rejects what a scraper would reject and what the naming conventions forbid (see the checks in
// ParsePrometheusText). Header-only: used by the unit and the integration tests.
#pragma once

#include <cctype>
#include <cerrno>
#include <limits>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace pgpilot::testing {

struct PromSample {
  std::string name;    // as written: a histogram's series end in _bucket, _sum, _count
  std::string family;  // the name its HELP and TYPE lines give
  std::map<std::string, std::string> labels;  // values unescaped
  double value = 0;
};

struct PromExposition {
  std::string error;  // empty when the text passed every check; else the first violation
  std::vector<PromSample> samples;
  std::map<std::string, std::string> types;  // family -> counter, gauge, histogram, ...
  std::map<std::string, std::string> helps;  // family -> help text (unescaped)

  bool ok() const { return error.empty(); }
  // Samples named `name` whose labels include every one of `labels`.
  std::vector<const PromSample*> Find(const std::string& name,
                                      const std::map<std::string, std::string>& labels = {}) const {
    std::vector<const PromSample*> found;
    for (const PromSample& s : samples) {
      if (s.name != name) continue;
      bool all = true;
      for (const auto& [k, v] : labels) {
        auto it = s.labels.find(k);
        all &= it != s.labels.end() && it->second == v;
      }
      if (all) found.push_back(&s);
    }
    return found;
  }
  // The value of the one sample Find names, or nullopt when there is none or more than one.
  std::optional<double> Value(const std::string& name,
                              const std::map<std::string, std::string>& labels = {}) const {
    auto found = Find(name, labels);
    if (found.size() != 1) return std::nullopt;
    return found.front()->value;
  }
};

namespace prom_detail {

inline bool IsMetricName(std::string_view s) {
  if (s.empty()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool letter = std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':';
    if (!letter && !(i > 0 && std::isdigit(static_cast<unsigned char>(c)))) return false;
  }
  return true;
}

inline bool IsLabelName(std::string_view s) {
  if (s.empty()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool letter = std::isalpha(static_cast<unsigned char>(c)) || c == '_';
    if (!letter && !(i > 0 && std::isdigit(static_cast<unsigned char>(c)))) return false;
  }
  return s.substr(0, 2) != "__";  // reserved for Prometheus itself
}

inline std::optional<double> ParseValue(const std::string& s) {
  if (s == "+Inf") return std::numeric_limits<double>::infinity();
  if (s == "-Inf") return -std::numeric_limits<double>::infinity();
  if (s == "NaN") return std::numeric_limits<double>::quiet_NaN();
  if (s.empty() || std::isspace(static_cast<unsigned char>(s[0]))) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size() || errno == ERANGE) return std::nullopt;
  // strtod also reads "inf", "nan" and hexadecimal floats, which the format does not allow.
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '+' &&
        c != 'e' && c != 'E') {
      return std::nullopt;
    }
  }
  return v;
}

// The family a sample belongs to: itself, or a histogram's / summary's base name.
inline std::string FamilyOf(const std::string& name, const std::map<std::string, std::string>& types) {
  if (types.count(name)) return name;
  for (std::string_view suffix : {"_bucket", "_sum", "_count"}) {
    if (name.size() > suffix.size() && name.ends_with(suffix)) {
      std::string base = name.substr(0, name.size() - suffix.size());
      auto it = types.find(base);
      bool histogram = it != types.end() && it->second == "histogram";
      bool summary = it != types.end() && it->second == "summary" && suffix != "_bucket";
      if (histogram || summary) {
        return base;
      }
    }
  }
  return "";
}

}  // namespace prom_detail

// Checks, each violation reported with its line number:
// - the text ends with a newline; no empty lines; the only comments are "# HELP name text" and
//   "# TYPE name type" (type: counter, gauge, histogram, summary, untyped), each at most once per
//   family and both before the family's first sample;
// - every sample is `name{label="value",...} value` (the label set may be absent, no timestamp),
//   names match [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]* (not __...), label
//   values quoted with only \\, \" and \n escaped, no label twice, the value a float;
// - every sample belongs to a family with HELP and TYPE, the samples of a family are
//   consecutive, counter family names end in _total, no series (name and label set) twice;
// - histograms: every _bucket has `le`, counts do not decrease as `le` grows, a +Inf bucket exists
//   and equals _count.
inline PromExposition ParsePrometheusText(std::string_view text) {
  using namespace prom_detail;
  PromExposition out;
  auto fail = [&out](int line, const std::string& why) {
    if (out.error.empty()) out.error = "line " + std::to_string(line) + ": " + why;
    return out;
  };
  if (text.empty() || text.back() != '\n') return fail(0, "the text must end with a newline");
  std::set<std::string> seen_series;
  std::set<std::string> finished_families;
  std::string current_family;
  int number = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    std::string line(text.substr(pos, eol - pos));
    pos = eol + 1;
    ++number;
    if (line.empty()) return fail(number, "empty line");
    if (line[0] == '#') {
      bool help = line.rfind("# HELP ", 0) == 0;
      bool type = line.rfind("# TYPE ", 0) == 0;
      if (!help && !type) return fail(number, "a comment other than HELP or TYPE: " + line);
      std::string rest = line.substr(7);
      size_t space = rest.find(' ');
      if (space == std::string::npos) return fail(number, "HELP or TYPE without a name and text");
      std::string name = rest.substr(0, space);
      std::string arg = rest.substr(space + 1);
      if (!IsMetricName(name)) return fail(number, "bad metric name " + name);
      if (finished_families.count(name) || current_family == name) {
        return fail(number, "HELP or TYPE after the samples of " + name);
      }
      if (help) {
        if (out.helps.count(name)) return fail(number, "second HELP for " + name);
        std::string unescaped;
        for (size_t i = 0; i < arg.size(); ++i) {
          if (arg[i] != '\\') {
            unescaped += arg[i];
          } else if (i + 1 < arg.size() && (arg[i + 1] == '\\' || arg[i + 1] == 'n')) {
            unescaped += arg[i + 1] == 'n' ? '\n' : '\\';
            ++i;
          } else {
            return fail(number, "bad escape in HELP of " + name);
          }
        }
        out.helps[name] = unescaped;
      } else {
        static const std::set<std::string> kTypes = {"counter", "gauge", "histogram", "summary", "untyped"};
        if (out.types.count(name)) return fail(number, "second TYPE for " + name);
        if (!kTypes.count(arg)) return fail(number, "unknown type " + arg);
        if (arg == "counter" && !name.ends_with("_total")) {
          return fail(number, "counter " + name + " does not end in _total");
        }
        out.types[name] = arg;
      }
      continue;
    }

    PromSample sample;
    size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
    sample.name = line.substr(0, i);
    if (!IsMetricName(sample.name)) return fail(number, "bad metric name in: " + line);
    std::string series = sample.name + "{";
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (i < line.size() && line[i] != '}') {
        size_t eq = line.find('=', i);
        if (eq == std::string::npos) return fail(number, "label without '=': " + line);
        std::string label = line.substr(i, eq - i);
        if (!IsLabelName(label)) return fail(number, "bad label name '" + label + "'");
        if (eq + 1 >= line.size() || line[eq + 1] != '"') return fail(number, "unquoted label value");
        std::string value;
        size_t j = eq + 2;
        for (; j < line.size() && line[j] != '"'; ++j) {
          if (line[j] != '\\') {
            value += line[j];
            continue;
          }
          if (j + 1 >= line.size()) return fail(number, "escape at the end of the line");
          char e = line[++j];
          if (e == '\\') value += '\\';
          else if (e == '"') value += '"';
          else if (e == 'n') value += '\n';
          else return fail(number, std::string("bad escape \\") + e + " in a label value");
        }
        if (j >= line.size()) return fail(number, "unterminated label value");
        if (sample.labels.count(label)) return fail(number, "label " + label + " twice");
        sample.labels[label] = value;
        i = j + 1;
        if (i < line.size() && line[i] == ',') ++i;
        else if (i >= line.size() || line[i] != '}') return fail(number, "expected ',' or '}' after a label");
      }
      if (i >= line.size()) return fail(number, "unterminated label set");
      ++i;  // '}'
    }
    if (i >= line.size() || line[i] != ' ') return fail(number, "expected one space before the value");
    std::string value_text = line.substr(i + 1);
    if (value_text.find(' ') != std::string::npos) return fail(number, "a timestamp or extra text: " + line);
    auto value = ParseValue(value_text);
    if (!value) return fail(number, "value is not a float: '" + value_text + "'");
    sample.value = *value;

    sample.family = FamilyOf(sample.name, out.types);
    if (sample.family.empty()) return fail(number, sample.name + " has no TYPE before it");
    if (!out.helps.count(sample.family)) return fail(number, sample.family + " has no HELP before it");
    if (sample.family != current_family) {
      if (finished_families.count(sample.family)) {
        return fail(number, "the samples of " + sample.family + " are not consecutive");
      }
      if (!current_family.empty()) finished_families.insert(current_family);
      current_family = sample.family;
    }
    for (const auto& [k, v] : sample.labels) series += k + "=\"" + v + "\",";
    if (!seen_series.insert(series).second) return fail(number, "series twice: " + line);
    out.samples.push_back(std::move(sample));
  }

  // Histograms: cumulative buckets ending in +Inf == _count.
  for (const auto& [family, type] : out.types) {
    if (type != "histogram") continue;
    std::map<std::string, std::vector<std::pair<double, double>>> buckets;  // other labels -> (le, n)
    std::map<std::string, double> counts;
    for (const PromSample& s : out.samples) {
      if (s.family != family) continue;
      std::string key;
      for (const auto& [k, v] : s.labels) {
        if (k != "le") key += k + "=" + v + ",";
      }
      if (s.name == family + "_bucket") {
        auto le = s.labels.find("le");
        if (le == s.labels.end()) return fail(0, family + "_bucket without le");
        auto bound = ParseValue(le->second);
        if (!bound) return fail(0, family + "_bucket with le=" + le->second);
        buckets[key].push_back({*bound, s.value});
      } else if (s.name == family + "_count") {
        counts[key] = s.value;
      } else if (s.name != family + "_sum") {
        return fail(0, s.name + " is not a series of histogram " + family);
      }
    }
    for (auto& [key, list] : buckets) {
      for (size_t k = 1; k < list.size(); ++k) {
        if (list[k].first <= list[k - 1].first) return fail(0, family + ": le not increasing");
        if (list[k].second < list[k - 1].second) return fail(0, family + ": bucket counts decrease");
      }
      if (list.empty() || list.back().first != std::numeric_limits<double>::infinity()) {
        return fail(0, family + ": no +Inf bucket");
      }
      if (!counts.count(key) || counts[key] != list.back().second) {
        return fail(0, family + ": the +Inf bucket differs from _count");
      }
    }
  }
  return out;
}

}  // namespace pgpilot::testing
