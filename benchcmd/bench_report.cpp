#include "benchcmd/bench_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <sstream>

namespace kproxy::benchcmd {

namespace {

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string objects(int64_t n) { return n < 0 ? "n/a" : std::to_string(n); }

// Modes in a fixed order and colour, so plots of different runs compare.
const std::vector<std::pair<std::string, std::string>>& palette() {
  static const std::vector<std::pair<std::string, std::string>> p = {
      {"iptables-legacy", "#d95f02"}, {"iptables-nft", "#1b6ac9"}, {"ipvs", "#7570b3"}, {"nftables", "#1b9e77"}, {"ebpf", "#e7298a"}};
  return p;
}
std::string colorOf(const std::string& mode) {
  for (const auto& [m, c] : palette())
    if (m == mode) return c;
  return "#444444";
}

}  // namespace

std::string durationLabel(double s) {
  // One decimal under 10 of a unit, none when it is zero: "4.8 ms", "1 ms", "310 ms".
  auto in = [](double v, const char* unit) {
    std::string t = fmt(v < 10 ? "%.1f" : "%.0f", v);
    if (t.size() > 2 && t.compare(t.size() - 2, 2, ".0") == 0) t.resize(t.size() - 2);
    return t + " " + unit;
  };
  if (s < 1e-3) return in(s * 1e6, "us");
  if (s < 1) return in(s * 1e3, "ms");
  return in(s, "s");
}

std::vector<double> niceTicks(double lo, double hi, int wanted) {
  if (!(hi > lo)) hi = lo + 1;
  double raw = (hi - lo) / std::max(wanted, 1);
  double mag = std::pow(10, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * mag >= raw) {
      step = m * mag;
      break;
    }
  std::vector<double> out;
  double first = std::floor(lo / step), last = std::ceil(hi / step - 1e-9);
  for (double k = first; k <= last; ++k) out.push_back(k * step);
  return out;
}

std::string formatTable(const std::vector<BenchRow>& rows) {
  std::ostringstream o;
  char line[512];
  std::snprintf(line, sizeof line, "%-16s %8s %5s | %10s %10s %10s %9s | %12s %12s %6s %10s %10s\n", "mode", "services",
                "eps", "full sync", "partial", "objects", "peak RSS", "ClusterIP/s", "pod IP/s", "ratio", "p50", "p99");
  o << line;
  for (const auto& r : rows) {
    double ratio = r.pod.rate() > 0 ? r.clusterIP.rate() / r.pod.rate() : 0;
    std::snprintf(line, sizeof line, "%-16s %8d %5d | %10s %10s %10s %6.1f MB | %12.0f %12.0f %6.2f %10s %10s%s\n",
                  r.mode.c_str(), r.services, r.endpoints, durationLabel(r.fullSyncSeconds).c_str(),
                  durationLabel(r.partialSyncSeconds).c_str(), objects(r.kernelObjects).c_str(),
                  static_cast<double>(r.peakRssBytes) / (1 << 20), r.clusterIP.rate(), r.pod.rate(), ratio,
                  durationLabel(r.clusterIP.p50Us / 1e6).c_str(), durationLabel(r.clusterIP.p99Us / 1e6).c_str(),
                  r.clusterIP.failures ? (" (" + std::to_string(r.clusterIP.failures) + " failed)").c_str() : "");
    o << line;
  }
  return o.str();
}

double syncSecondsPerHour(double fullSeconds, double partialSeconds, double fullIntervalSeconds) {
  double fulls = fullIntervalSeconds > 0 ? 3600.0 / fullIntervalSeconds : 0;
  return fulls * fullSeconds + std::max(0.0, 3600.0 - fulls) * partialSeconds;
}

std::string formatSyncBudget(const std::vector<BenchRow>& rows, double syncPeriodSeconds,
                             double (*fullInterval)(double, double)) {
  std::ostringstream o;
  o << "Time in syncs per hour, one endpoint change per second (sync period " << fmt("%.0f", syncPeriodSeconds) << " s):\n";
  char line[256];
  std::snprintf(line, sizeof line, "%-16s %8s | %24s | %34s\n", "mode", "services", "full every sync period",
                "full syncs within 1% (interval)");
  o << line;
  for (const auto& r : rows) {
    double before = syncSecondsPerHour(r.fullSyncSeconds, r.partialSyncSeconds, syncPeriodSeconds);
    double interval = fullInterval(r.fullSyncSeconds, syncPeriodSeconds);
    double after = syncSecondsPerHour(r.fullSyncSeconds, r.partialSyncSeconds, interval);
    std::snprintf(line, sizeof line, "%-16s %8d | %10.1f s/h (%5.1f%%) | %10.1f s/h (%5.1f%%, %7.0f s)\n", r.mode.c_str(),
                  r.services, before, before / 36.0, after, after / 36.0, interval);
    o << line;
  }
  return o.str();
}

std::string formatCsv(const std::vector<BenchRow>& rows) {
  std::ostringstream o;
  o << "mode,services,endpoints_per_service,full_sync_seconds,partial_sync_seconds,kernel_objects,peak_rss_bytes,"
       "clusterip_connections_per_second,clusterip_p50_seconds,clusterip_p99_seconds,clusterip_failures,"
       "pod_connections_per_second,pod_p50_seconds,pod_p99_seconds\n";
  for (const auto& r : rows) {
    o << r.mode << ',' << r.services << ',' << r.endpoints << ',' << fmt("%.6f", r.fullSyncSeconds) << ','
      << fmt("%.6f", r.partialSyncSeconds) << ',' << r.kernelObjects << ',' << r.peakRssBytes << ','
      << fmt("%.1f", r.clusterIP.rate()) << ',' << fmt("%.6f", r.clusterIP.p50Us / 1e6) << ','
      << fmt("%.6f", r.clusterIP.p99Us / 1e6) << ',' << r.clusterIP.failures << ',' << fmt("%.1f", r.pod.rate()) << ','
      << fmt("%.6f", r.pod.p50Us / 1e6) << ',' << fmt("%.6f", r.pod.p99Us / 1e6) << '\n';
  }
  return o.str();
}

namespace {

// One plot panel: maps data to pixels and draws its frame, ticks and labels.
struct Panel {
  double x0, y0, w, h;  // plot area in pixels (y0 = top)
  double xlo, xhi, ylo, yhi;
  bool xlog, ylog;
  double px(double x) const {
    double t = xlog ? (std::log10(x) - std::log10(xlo)) / (std::log10(xhi) - std::log10(xlo)) : (x - xlo) / (xhi - xlo);
    return x0 + (xhi == xlo ? 0.5 : t) * w;
  }
  double py(double y) const {
    double t = ylog ? (std::log10(y) - std::log10(ylo)) / (std::log10(yhi) - std::log10(ylo)) : (y - ylo) / (yhi - ylo);
    return y0 + h - t * h;
  }
};

std::string esc(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '<') o += "&lt;";
    else if (c == '>') o += "&gt;";
    else if (c == '&') o += "&amp;";
    else o += c;
  }
  return o;
}

void text(std::ostringstream& o, double x, double y, const std::string& s, const char* anchor = "middle",
          const char* extra = "") {
  o << fmt("<text x=\"%.1f\"", x) << fmt(" y=\"%.1f\"", y) << " text-anchor=\"" << anchor << "\"" << extra << ">"
    << esc(s) << "</text>\n";
}

void frame(std::ostringstream& o, const Panel& p, const std::string& title, const std::string& ylabel,
           const std::vector<std::pair<double, std::string>>& yticks, const std::vector<double>& xticks) {
  o << fmt("<rect x=\"%.1f\"", p.x0) << fmt(" y=\"%.1f\"", p.y0) << fmt(" width=\"%.1f\"", p.w)
    << fmt(" height=\"%.1f\"", p.h) << " fill=\"none\" stroke=\"#333\"/>\n";
  text(o, p.x0 + p.w / 2, p.y0 - 12, title, "middle", " font-weight=\"bold\"");
  for (const auto& [v, label] : yticks) {
    double y = p.py(v);
    o << fmt("<line x1=\"%.1f\"", p.x0) << fmt(" x2=\"%.1f\"", p.x0 + p.w) << fmt(" y1=\"%.1f\"", y)
      << fmt(" y2=\"%.1f\"", y) << " stroke=\"#ddd\"/>\n";
    text(o, p.x0 - 6, y + 4, label, "end");
  }
  for (double v : xticks) {
    double x = p.px(v);
    o << fmt("<line x1=\"%.1f\"", x) << fmt(" x2=\"%.1f\"", x) << fmt(" y1=\"%.1f\"", p.y0 + p.h)
      << fmt(" y2=\"%.1f\"", p.y0 + p.h + 5) << " stroke=\"#333\"/>\n";
    text(o, x, p.y0 + p.h + 18, fmt("%.0f", v));
  }
  text(o, p.x0 + p.w / 2, p.y0 + p.h + 38, "Services (x endpoints each)");
  o << fmt("<text transform=\"translate(%.1f,", p.x0 - 58) << fmt("%.1f) rotate(-90)\"", p.y0 + p.h / 2)
    << " text-anchor=\"middle\">" << esc(ylabel) << "</text>\n";
}

void series(std::ostringstream& o, const Panel& p, const std::vector<std::pair<double, double>>& pts,
            const std::string& color, bool dashed, const std::string& label) {
  if (pts.empty()) return;
  o << "<polyline fill=\"none\" stroke=\"" << color << "\" stroke-width=\"2\""
    << (dashed ? " stroke-dasharray=\"6 4\"" : "") << " points=\"";
  for (const auto& [x, y] : pts) o << fmt("%.1f,", p.px(x)) << fmt("%.1f ", p.py(y));
  o << "\"><title>" << esc(label) << "</title></polyline>\n";
  for (const auto& [x, y] : pts)
    o << fmt("<circle cx=\"%.1f\"", p.px(x)) << fmt(" cy=\"%.1f\"", p.py(y)) << " r=\"3\" fill=\"" << color << "\"/>\n";
}

}  // namespace

std::string renderSvg(const std::vector<BenchRow>& rows) {
  std::vector<std::string> modes;
  for (const auto& [m, c] : palette())
    if (std::any_of(rows.begin(), rows.end(), [&](const BenchRow& r) { return r.mode == m; })) modes.push_back(m);
  for (const auto& r : rows)
    if (std::find(modes.begin(), modes.end(), r.mode) == modes.end()) modes.push_back(r.mode);

  double nlo = 1e300, nhi = 0, tlo = 1e300, thi = 0, rhi = 0;
  std::set<double> sizes;
  for (const auto& r : rows) {
    double n = std::max(r.services, 1);
    sizes.insert(n);
    nlo = std::min(nlo, n), nhi = std::max(nhi, n);
    for (double t : {r.fullSyncSeconds, r.partialSyncSeconds})
      if (t > 0) tlo = std::min(tlo, t), thi = std::max(thi, t);
    rhi = std::max({rhi, r.clusterIP.rate(), r.pod.rate()});
  }
  if (rows.empty()) nlo = nhi = 1, tlo = 1e-3, thi = 1, rhi = 1;
  if (tlo > thi) tlo = 1e-3, thi = 1;
  bool xlog = nhi / nlo >= 10;
  double dlo = std::pow(10, std::floor(std::log10(tlo))), dhi = std::pow(10, std::ceil(std::log10(thi)));
  if (dhi <= dlo) dhi = dlo * 10;
  auto rateTicks = niceTicks(0, rhi > 0 ? rhi * 1.05 : 1, 5);

  const double W = 1000, H = 470;
  Panel sync{90, 50, 370, 290, nlo, nhi, dlo, dhi, xlog, true};
  Panel rate{600, 50, 370, 290, nlo, nhi, 0, rateTicks.back(), xlog, false};
  std::vector<double> xticks(sizes.begin(), sizes.end());

  std::ostringstream o;
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << W << "\" height=\"" << H << "\" viewBox=\"0 0 " << W
    << ' ' << H << "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  o << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  std::vector<std::pair<double, std::string>> syncTicks;
  for (double v = dlo; v <= dhi * 1.0001; v *= 10) syncTicks.push_back({v, durationLabel(v)});
  frame(o, sync, "Sync time (solid: full, dashed: one endpoint changed)", "sync time (log scale)", syncTicks, xticks);
  std::vector<std::pair<double, std::string>> rt;
  for (double v : rateTicks) rt.push_back({v, fmt("%.0f", v)});
  frame(o, rate, "New connections to a ClusterIP", "connections per second", rt, xticks);

  for (const auto& m : modes) {
    std::vector<std::pair<double, double>> full, partial, conns;
    for (const auto& r : rows) {
      if (r.mode != m) continue;
      double n = std::max(r.services, 1);
      if (r.fullSyncSeconds > 0) full.push_back({n, r.fullSyncSeconds});
      if (r.partialSyncSeconds > 0) partial.push_back({n, r.partialSyncSeconds});
      conns.push_back({n, r.clusterIP.rate()});
    }
    for (auto* v : {&full, &partial, &conns}) std::sort(v->begin(), v->end());
    series(o, sync, full, colorOf(m), false, m + " full sync");
    series(o, sync, partial, colorOf(m), true, m + " partial sync");
    series(o, rate, conns, colorOf(m), false, m + " to the ClusterIP");
  }
  // The no-proxy limit: straight to a pod, averaged over the rows of each size.
  std::map<double, std::pair<double, int>> pod;
  for (const auto& r : rows) {
    auto& [sum, n] = pod[std::max(r.services, 1)];
    sum += r.pod.rate();
    ++n;
  }
  std::vector<std::pair<double, double>> podPts;
  for (const auto& [size, sn] : pod) podPts.push_back({size, sn.first / sn.second});
  series(o, rate, podPts, "#888888", true, "straight to a pod (no proxy)");

  // Legend, under both panels.
  double lx = 90, ly = 425;
  for (const auto& m : modes) {
    o << fmt("<line x1=\"%.1f\"", lx) << fmt(" x2=\"%.1f\"", lx + 24) << fmt(" y1=\"%.1f\"", ly)
      << fmt(" y2=\"%.1f\"", ly) << " stroke=\"" << colorOf(m) << "\" stroke-width=\"3\"/>\n";
    text(o, lx + 30, ly + 4, m, "start");
    lx += 40 + 8 * static_cast<double>(m.size());
  }
  o << fmt("<line x1=\"%.1f\"", lx) << fmt(" x2=\"%.1f\"", lx + 24) << fmt(" y1=\"%.1f\"", ly) << fmt(" y2=\"%.1f\"", ly)
    << " stroke=\"#888888\" stroke-width=\"2\" stroke-dasharray=\"6 4\"/>\n";
  text(o, lx + 30, ly + 4, "straight to a pod (no proxy)", "start");
  text(o, 90, ly + 30,
       "kproxy bench: " + std::to_string(rows.empty() ? 0 : rows.front().endpoints) +
           " endpoints per Service; sync time as kproxy reports it (desired state, render, kernel)",
       "start", " fill=\"#555\"");
  o << "</svg>\n";
  return o.str();
}

}  // namespace kproxy::benchcmd
