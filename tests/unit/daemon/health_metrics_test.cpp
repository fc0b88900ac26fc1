#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>
#include <boost/asio/post.hpp>
#include <atomic>
#include <future>
#include <sstream>
#include <thread>

#include "daemon/debug_endpoint.h"
#include "daemon/http_server.h"
#include "daemon/metrics.h"
#include "daemon/process_metrics.h"
#include "daemon/proxy_health.h"
#include "daemon/service_health.h"

namespace kproxy::daemon {
namespace {

using std::chrono::seconds;
const ProxyHealth::TimePoint t0 = ProxyHealth::TimePoint{} + seconds(1'800'000'000);

TEST(ProxyHealth, UnhealthyOnlyWhenAQueuedChangeWaitsLongerThanTheTimeout) {
  using model::IPFamily;
  ProxyHealth h(std::chrono::seconds(60));
  h.updated(IPFamily::kIPv4, t0);
  h.updated(IPFamily::kIPv6, t0);
  EXPECT_EQ(h.healthz(t0 + seconds(3600)).status, 200);  // idle for an hour: fine
  h.queued(IPFamily::kIPv4, t0 + seconds(10));
  h.queued(IPFamily::kIPv4, t0 + seconds(50));  // the oldest counts
  h.queued(IPFamily::kIPv6, t0 + seconds(10));
  h.updated(IPFamily::kIPv6, t0 + seconds(20));
  EXPECT_EQ(h.healthz(t0 + seconds(69)).status, 200);
  auto v = h.healthz(t0 + seconds(71));
  EXPECT_EQ(v.status, 503);
  EXPECT_FALSE(v.healthy);
  EXPECT_FALSE(h.proxyHealthy(t0 + seconds(71)));
  // Upstream 1.37's JSON: the overall verdict, then each family's (IPv6 synced, IPv4 late).
  EXPECT_EQ(v.body,
            "{\"lastUpdated\":\"2027-01-15T08:00:20Z\",\"currentTime\":\"2027-01-15T08:01:11Z\",\"nodeEligible\":true,"
            "\"healthy\":false,\"status\":{\"IPv4\":{\"lastUpdated\":\"2027-01-15T08:00:00Z\",\"healthy\":false},"
            "\"IPv6\":{\"lastUpdated\":\"2027-01-15T08:00:20Z\",\"healthy\":true}}}");
  h.updated(IPFamily::kIPv4, t0 + seconds(72));
  auto ok = h.healthz(t0 + seconds(73));
  EXPECT_EQ(ok.status, 200);
  // A healthy answer's lastUpdated is now, as upstream keeps it for older readers.
  EXPECT_NE(ok.body.find("{\"lastUpdated\":\"2027-01-15T08:01:13Z\""), std::string::npos) << ok.body;
  h.setNodeEligible(false);
  EXPECT_EQ(h.healthz(t0 + seconds(74)).status, 503);
  EXPECT_NE(h.healthz(t0 + seconds(74)).body.find("\"nodeEligible\":false,\"healthy\":true"), std::string::npos);
  auto live = h.livez(t0 + seconds(74));
  EXPECT_EQ(live.status, 200);
  EXPECT_EQ(live.body.find("nodeEligible"), std::string::npos) << "only /healthz reports the Node: " << live.body;
}

TEST(ProxyHealth, NodeEligibilityAndGoJsonTimes) {
  model::Node n;
  EXPECT_TRUE(nodeEligible(n));
  n.taintKeys = {"node.kubernetes.io/unschedulable", "ToBeDeletedByClusterAutoscaler"};
  EXPECT_FALSE(nodeEligible(n));
  n.taintKeys = {};
  n.meta.deleting = true;
  EXPECT_FALSE(nodeEligible(n));
  EXPECT_EQ(goJsonTime(ProxyHealth::TimePoint{} + seconds(1764000000)), "2025-11-24T16:00:00Z");
  EXPECT_EQ(goJsonTime(ProxyHealth::TimePoint{} + seconds(1764000000) + std::chrono::milliseconds(250)),
            "2025-11-24T16:00:00.25Z");
  EXPECT_EQ(goJsonTime(ProxyHealth::TimePoint{}), "0001-01-01T00:00:00Z");
}

// As upstream's RegisterMetrics: each mode's own failure counters, and (Prometheus' Go client)
// metrics without labels exposed at zero from the start, labelled ones once used.
TEST(Metrics, RegisteredPerModeAndExposedAtZeroLikeTheGoClient) {
  auto text = [](const std::string& mode) {
    Metrics m;
    describeProxyMetrics(m, mode);
    perFamilyMetrics(m, mode, "IPv4");
    return m.exposition();
  };
  const std::string nft = text("nftables"), ipt = text("iptables"), ipvs = text("ipvs");
  // ip_family as kube-proxy 1.37's metric reference lists it; the change counters have none.
  for (const char* line : {"kubeproxy_sync_proxy_rules_nftables_sync_failures_total{ip_family=\"IPv4\"} 0\n",
                           "kubeproxy_sync_proxy_rules_nftables_cleanup_failures_total{ip_family=\"IPv4\"} 0\n",
                           "kubeproxy_sync_proxy_rules_duration_seconds_bucket{ip_family=\"IPv4\",le=\"0.001\"} 0\n",
                           "kubeproxy_sync_proxy_rules_duration_seconds_count{ip_family=\"IPv4\"} 0\n",
                           "kubeproxy_network_programming_duration_seconds_count{ip_family=\"IPv4\"} 0\n",
                           "kubeproxy_conntrack_reconciler_sync_duration_seconds_count{ip_family=\"IPv4\"} 0\n",
                           "kubeproxy_conntrack_reconciler_deleted_entries_total{ip_family=\"IPv4\"} 0\n",
                           "kubeproxy_sync_proxy_rules_endpoint_changes_total 0\n",
                           "kubeproxy_sync_proxy_rules_last_timestamp_seconds{ip_family=\"IPv4\"} 0\n"})
    EXPECT_NE(nft.find(line), std::string::npos) << line << " not in:\n" << nft;
  EXPECT_EQ(nft.find("iptables_restore_failures"), std::string::npos);
  EXPECT_EQ(nft.find("kubeproxy_proxy_healthz_total"), std::string::npos) << "a labelled metric appears once used";
  EXPECT_NE(ipt.find("kubeproxy_sync_proxy_rules_iptables_restore_failures_total{ip_family=\"IPv4\"} 0\n"), std::string::npos);
  EXPECT_NE(ipt.find("kubeproxy_sync_proxy_rules_iptables_partial_restore_failures_total{ip_family=\"IPv4\"} 0\n"),
            std::string::npos);
  EXPECT_EQ(ipt.find("nftables"), std::string::npos);
  EXPECT_NE(ipvs.find("kubeproxy_sync_proxy_rules_iptables_restore_failures_total{ip_family=\"IPv4\"} 0\n"), std::string::npos);
  EXPECT_EQ(ipvs.find("partial_restore_failures"), std::string::npos);
}

TEST(Metrics, KubernetesBuildInfoHasComponentBasesLabels) {
  Metrics m;
  describeBuildInfo(m, "0.16.0", "v1.37.0");
  const std::string text = m.exposition();
  EXPECT_NE(text.find("# TYPE kubernetes_build_info gauge\n"), std::string::npos) << text;
  for (const char* part : {"git_version=\"v1.37.0+kproxy.0.16.0\"", "major=\"1\"", "minor=\"37\"", "platform=\"linux/"})
    EXPECT_NE(text.find(part), std::string::npos) << part << " not in " << text;
  EXPECT_NE(text.find("} 1\n"), std::string::npos);
}

// client-go's definitions: rest_client_requests_total{code,host,method} (counter) and
// rest_client_request_duration_seconds{host,verb} (histogram, client-go's 12 buckets).
TEST(Metrics, RestClientMetricsAsClientGoDefinesThem) {
  Metrics m;
  describeRestClientMetrics(m);
  EXPECT_EQ(m.exposition().find("rest_client_requests_total{"), std::string::npos) << "vec: no series before a request";
  m.counterAdd("rest_client_requests_total", 1, {{"code", "200"}, {"host", "10.96.0.1:443"}, {"method", "GET"}});
  m.observe("rest_client_request_duration_seconds", 0.03, {{"host", "10.96.0.1:443"}, {"verb", "GET"}});
  const std::string text = m.exposition();
  EXPECT_NE(text.find("# TYPE rest_client_requests_total counter\n"), std::string::npos) << text;
  EXPECT_NE(text.find("rest_client_requests_total{code=\"200\",host=\"10.96.0.1:443\",method=\"GET\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("# TYPE rest_client_request_duration_seconds histogram\n"), std::string::npos);
  for (const char* le : {"0.005", "0.025", "0.1", "0.25", "0.5", "1", "2", "4", "8", "15", "30", "60", "+Inf"})
    EXPECT_NE(text.find(std::string("rest_client_request_duration_seconds_bucket{host=\"10.96.0.1:443\",verb=\"GET\",le=\"") + le + "\"} " +
                        (std::string(le) == "0.005" || std::string(le) == "0.025" ? "0" : "1") + "\n"),
              std::string::npos)
        << le << " in " << text;
}

TEST(Metrics, ExpositionParsesBackWithUpstreamNamesTypesAndBuckets) {
  Metrics m;
  describeProxyMetrics(m);
  perFamilyMetrics(m, "iptables", "IPv4");
  m.observe("kubeproxy_sync_proxy_rules_duration_seconds", 0.003);
  m.observe("kubeproxy_sync_proxy_rules_duration_seconds", 0.5);
  m.counterAdd("kubeproxy_sync_proxy_rules_iptables_restore_failures_total", 1);
  m.gaugeSet("kubeproxy_sync_proxy_rules_iptables_total", 42, {{"table", "nat"}});
  m.counterAdd("kubeproxy_proxy_healthz_total", 1, {{"code", "200"}});
  m.observe("kubeproxy_network_programming_duration_seconds", 0.3);
  m.gaugeSet("kubeproxy_sync_proxy_rules_no_local_endpoints_total", 2, {{"traffic_policy", "external"}});
  describeProcessMetrics(m);
  // Use some CPU first so that /proc has whole clock ticks to report.
  auto cpuSeconds = [] {
    rusage ru{};
    ::getrusage(RUSAGE_SELF, &ru);
    return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  };
  while (cpuSeconds() < 0.03) {
  }
  updateProcessMetrics(m);
  double cpuAfter = cpuSeconds();
  std::string text = m.exposition();
  std::map<std::string, std::string> types;
  std::map<std::string, double> samples;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("# TYPE ", 0) == 0) {
      std::istringstream l(line.substr(7));
      std::string name, type;
      l >> name >> type;
      types[name] = type;
    } else if (!line.empty() && line[0] != '#') {
      auto sp = line.rfind(' ');
      samples[line.substr(0, sp)] = std::stod(line.substr(sp + 1));
    }
  }
  EXPECT_EQ(types["kubeproxy_sync_proxy_rules_duration_seconds"], "histogram");
  EXPECT_EQ(types["kubeproxy_sync_proxy_rules_iptables_restore_failures_total"], "counter");
  EXPECT_EQ(types["kubeproxy_sync_proxy_rules_last_timestamp_seconds"], "gauge");
  EXPECT_EQ(samples["kubeproxy_sync_proxy_rules_duration_seconds_bucket{le=\"0.001\"}"], 0);
  EXPECT_EQ(samples["kubeproxy_sync_proxy_rules_duration_seconds_bucket{le=\"0.004\"}"], 1);
  EXPECT_EQ(samples["kubeproxy_sync_proxy_rules_duration_seconds_bucket{le=\"0.512\"}"], 2);
  EXPECT_EQ(samples["kubeproxy_sync_proxy_rules_duration_seconds_bucket{le=\"16.384\"}"], 2);
  EXPECT_EQ(samples["kubeproxy_sync_proxy_rules_duration_seconds_bucket{le=\"+Inf\"}"], 2);
  EXPECT_EQ(samples["kubeproxy_sync_proxy_rules_duration_seconds_count"], 2);
  EXPECT_DOUBLE_EQ(samples["kubeproxy_sync_proxy_rules_duration_seconds_sum"], 0.503);
  EXPECT_EQ(samples["kubeproxy_sync_proxy_rules_iptables_total{table=\"nat\"}"], 42);
  EXPECT_EQ(samples["kubeproxy_proxy_healthz_total{code=\"200\"}"], 1);
  EXPECT_EQ(samples["kubeproxy_sync_proxy_rules_iptables_restore_failures_total"], 1);
  // Upstream's network programming buckets, zero bucket included.
  EXPECT_EQ(types["kubeproxy_network_programming_duration_seconds"], "histogram");
  EXPECT_EQ(samples.count("kubeproxy_network_programming_duration_seconds_bucket{le=\"0\"}"), 1u);
  EXPECT_EQ(samples["kubeproxy_network_programming_duration_seconds_bucket{le=\"0.25\"}"], 0);
  EXPECT_EQ(samples["kubeproxy_network_programming_duration_seconds_bucket{le=\"0.5\"}"], 1);
  EXPECT_EQ(samples["kubeproxy_network_programming_duration_seconds_bucket{le=\"59\"}"], 1);
  EXPECT_EQ(samples.count("kubeproxy_network_programming_duration_seconds_bucket{le=\"115\"}"), 1u);
  EXPECT_EQ(samples.count("kubeproxy_network_programming_duration_seconds_bucket{le=\"300\"}"), 1u);
  EXPECT_EQ(Metrics::networkProgrammingBuckets().size(), 3u + 59u + 12u + 7u);
  EXPECT_EQ(samples["kubeproxy_sync_proxy_rules_no_local_endpoints_total{traffic_policy=\"external\"}"], 2);
  // Process metrics from /proc: this test process.
  EXPECT_GT(samples["process_resident_memory_bytes"], 1e6);
  EXPECT_GE(samples["process_virtual_memory_bytes"], samples["process_resident_memory_bytes"]);
  EXPECT_GE(samples["process_open_fds"], 3);
  EXPECT_GT(samples["process_max_fds"], samples["process_open_fds"]);
  EXPECT_GE(samples["process_cpu_seconds_total"], 0.02);
  EXPECT_LE(samples["process_cpu_seconds_total"], cpuAfter + 0.011);
  double now = static_cast<double>(std::time(nullptr));
  EXPECT_LE(samples["process_start_time_seconds"], now + 1);
  EXPECT_GT(samples["process_start_time_seconds"], now - 3600);
}

TEST(Metrics, NumbersPrintAsGosFormatFloatG) {
  // What strconv.FormatFloat(v, 'g', -1, 64) prints, so dashboards matching le="300" work.
  std::vector<std::pair<double, std::string>> cases = {
      {300, "300"}, {16.384, "16.384"}, {0.25, "0.25"}, {1e6, "1e+06"}, {1234567, "1.234567e+06"},
      {123456, "123456"}, {0.0001, "0.0001"}, {0.00001, "1e-05"}, {0.1 + 0.2, "0.30000000000000004"},
      {-2.5, "-2.5"}, {0, "0"}, {1795597996.25, "1.79559799625e+09"}};
  for (const auto& [v, want] : cases) {
    Metrics m;
    m.gaugeSet("g", v);
    std::string text = m.exposition();
    EXPECT_NE(text.find("\ng " + want + "\n"), std::string::npos) << v << " printed as " << text;
  }
}

// One request over a real socket to `addr` (loopback only), the whole answer back.
std::string exchange(int family, const sockaddr* addr, socklen_t len, const std::string& request) {
  int fd = ::socket(family, SOCK_STREAM, 0);
  if (fd < 0 || ::connect(fd, addr, len) != 0) {
    if (fd >= 0) ::close(fd);
    return "connect failed";
  }
  (void)!::write(fd, request.data(), request.size());
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return out;
}

// To the server on 127.0.0.1 (port picked by the kernel).
std::string get(uint16_t port, const std::string& request) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return exchange(AF_INET, reinterpret_cast<sockaddr*>(&a), sizeof a, request);
}

TEST(HttpServer, ServesPathsAndRejectsOtherMethods) {
  boost::asio::io_context io;
  HttpServer server(io, [](const std::string& path) -> HttpResponse {
    if (path == "/healthz") return {503, "application/json", "{\"healthy\": false}", {{"X-Extra", "1"}}};
    return {404, "text/plain", "nope\n", {}};
  });
  ASSERT_TRUE(server.listen("127.0.0.1:0").isOk());
  ASSERT_NE(server.port(), 0);
  std::thread t([&] { io.run(); });
  std::string r = get(server.port(), "GET /healthz?verbose HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(r.rfind("HTTP/1.1 503", 0), 0u) << r;
  EXPECT_NE(r.find("Content-Type: application/json"), std::string::npos);
  EXPECT_NE(r.find("{\"healthy\": false}"), std::string::npos);
  EXPECT_NE(r.find("X-Extra: 1"), std::string::npos);
  EXPECT_EQ(get(server.port(), "GET /x HTTP/1.0\r\n\r\n").rfind("HTTP/1.0 404", 0), 0u);
  EXPECT_EQ(get(server.port(), "POST /healthz HTTP/1.1\r\nContent-Length: 0\r\n\r\n").rfind("HTTP/1.1 405", 0), 0u);
  EXPECT_EQ(get(server.port(), "garbage\r\n\r\n").find("200"), std::string::npos);
  EXPECT_FALSE(server.listen("127.0.0.1:99999").isOk());
  server.stop();
  io.stop();
  t.join();
}

TEST(HttpServer, AnswerRawParsesWithTheServersLimits) {
  auto handler = [](const std::string& path) -> HttpResponse { return {200, "text/plain", "path=" + path, {}}; };
  std::string r = answerRaw("GET /healthz?x=1 HTTP/1.1\r\nHost: a\r\n\r\n", handler);
  EXPECT_EQ(r.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << r;
  EXPECT_NE(r.find("path=/healthz"), std::string::npos);
  EXPECT_EQ(answerRaw("GET /healthz HTTP/1.1\r\nHost: a\r\n", handler), "") << "incomplete: no answer";
  EXPECT_EQ(answerRaw("GET / HTTP/1.1\r\nX: " + std::string(9000, 'a') + "\r\n\r\n", handler), "") << "over 8 KiB";
  EXPECT_EQ(answerRaw("\x16\x03\x01garbage\r\n\r\n", handler), "");
  EXPECT_NE(answerRaw("DELETE / HTTP/1.0\r\n\r\n", handler).find(" 405 "), std::string::npos);
}

int connectTo(uint16_t port, int fd = -1) {
  if (fd < 0) fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// With the descriptor limit reached, accept() fails with EMFILE; the server used to stop
// accepting for good. It must answer again as soon as descriptors are free.
TEST(HttpServer, AnswersAgainAfterRunningOutOfDescriptors) {
  boost::asio::io_context io;
  HttpServer server(io, [](const std::string&) -> HttpResponse { return {200, "text/plain", "ok\n", {}}; });
  ASSERT_TRUE(server.listen("127.0.0.1:0").isOk());
  std::thread t([&] { io.run(); });

  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  // The client's descriptor first; it connects once the server has none left to accept with.
  int client = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(client, 0);
  std::vector<int> filler;
  rlimit low = saved;
  low.rlim_cur = 256;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  for (int fd; (fd = ::dup(0)) >= 0;) filler.push_back(fd);
  ASSERT_EQ(errno, EMFILE);
  ASSERT_EQ(connectTo(server.port(), client), client);
  const std::string req = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
  (void)!::write(client, req.data(), req.size());
  // The server's accept now fails with EMFILE, and keeps trying.
  for (int i = 0; i < 100 && server.acceptErrors() == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_GT(server.acceptErrors(), 0u);
  for (int fd : filler) ::close(fd);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &saved), 0);

  timeval tv{5, 0};
  ::setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string out;
  char buf[1024];
  for (ssize_t n; (n = ::read(client, buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
  ::close(client);
  EXPECT_EQ(out.rfind("HTTP/1.1 200", 0), 0u) << "the waiting connection is answered once descriptors are free";
  EXPECT_EQ(get(server.port(), req).rfind("HTTP/1.1 200", 0), 0u);
  server.stop();
  io.stop();
  t.join();
}

// Idle connections (each one waits up to 5 s for its request) past kMaxConnections shed the
// oldest: a flood of them must not lock out the kubelet's probe.
TEST(HttpServer, IdleConnectionFloodShedsTheOldestAndStillAnswers) {
  boost::asio::io_context io;
  HttpServer server(io, [](const std::string&) -> HttpResponse { return {200, "text/plain", "ok\n", {}}; });
  ASSERT_TRUE(server.listen("127.0.0.1:0").isOk());
  std::thread t([&] { io.run(); });
  rlimit rl{};
  ::getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = std::min<rlim_t>(rl.rlim_max, 8192);  // as the daemon raises it at start
  ::setrlimit(RLIMIT_NOFILE, &rl);
  // Each connection costs two descriptors here (client and server side).
  size_t flood = std::min<size_t>(HttpServer::kMaxConnections + 100, rl.rlim_cur / 2 - 64);
  ASSERT_GT(flood, HttpServer::kMaxConnections) << "the hard limit is too low to test shedding";
  std::vector<int> idle;
  for (size_t i = 0; i < flood; ++i) {
    int fd = connectTo(server.port());
    if (fd >= 0) idle.push_back(fd);
  }
  for (int i = 0; i < 500 && server.shed() == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  auto start = std::chrono::steady_clock::now();
  std::string r = get(server.port(), "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.rfind("HTTP/1.1 200", 0), 0u) << r;
  EXPECT_LT(took, std::chrono::milliseconds(1000));
  EXPECT_GT(server.shed(), 0u) << idle.size() << " connected";
  for (int fd : idle) ::close(fd);
  server.stop();
  io.stop();
  t.join();
}

TEST(ServiceHealth, CountsReadyLocalEndpointsAndAnswersLikeKubeProxy) {
  dataplane::DesiredState state;
  dataplane::ServicePortInfo p;
  p.name.service = {"shop", "web"};
  p.healthCheckNodePort = 32000;
  p.endpoints.resize(3);
  p.endpoints[0].local = p.endpoints[0].ready = true;
  p.endpoints[1].local = true;  // not ready
  p.endpoints[2].ready = true;  // elsewhere
  state.ports.push_back(p);
  auto ports = healthCheckPorts(state);
  ASSERT_EQ(ports.size(), 1u);
  EXPECT_EQ(ports[32000].localEndpoints, 1);
  auto ok = serviceHealthResponse(ports[32000], true);
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.headers.at(0), (std::pair<std::string, std::string>{"X-Load-Balancing-Endpoint-Weight", "1"}));
  EXPECT_NE(ok.body.find("\"localEndpoints\": 1"), std::string::npos);
  EXPECT_NE(ok.body.find("\"namespace\": \"shop\""), std::string::npos);
  ports[32000].localEndpoints = 0;
  EXPECT_EQ(serviceHealthResponse(ports[32000], true).status, 503);
}

TEST(ServiceHealth, BothFamiliesPortsAndTheLargerLocalCount) {
  dataplane::DesiredState v4, v6;
  v6.family = model::IPFamily::kIPv6;
  dataplane::ServicePortInfo p;
  p.name.service = {"shop", "dual"};
  p.healthCheckNodePort = 32000;
  p.endpoints.resize(1);
  p.endpoints[0].local = p.endpoints[0].ready = true;
  v4.ports.push_back(p);
  p.endpoints.resize(2);
  p.endpoints[1].local = p.endpoints[1].ready = true;
  v6.ports.push_back(p);
  p.name.service = {"shop", "only6"};
  p.healthCheckNodePort = 32001;
  v6.ports.push_back(p);
  auto ports = healthCheckPorts({&v4, &v6});
  ASSERT_EQ(ports.size(), 2u) << "an IPv6-only Service has its health-check port too";
  EXPECT_EQ(ports[32000].localEndpoints, 2);
  EXPECT_EQ(ports[32001].service.name, "only6");
}

}  // namespace
void PrintTo(const ListenAddress& a, std::ostream* os) { *os << a.ip << (a.v6only ? " (v6only)" : ""); }
namespace {

// Upstream's NodePortAddresses per family: no CIDR of a family (or a /0) matches all of it.
TEST(ServiceHealth, ListenAddressesFollowNodePortAddresses) {
  using LA = ListenAddress;
  const std::vector<std::string> local = {"127.0.0.1", "10.200.0.1", "10.200.0.9", "192.168.5.5", "::1", "fd00:200::1"};
  const std::vector<std::string> primary = {"10.200.0.1", "fd00:200::1"};
  EXPECT_EQ(healthCheckAddresses({}, primary, local, true), (std::vector<LA>{{"::", false}})) << "one dual-stack socket";
  EXPECT_EQ(healthCheckAddresses({}, primary, local, false), (std::vector<LA>{{"0.0.0.0", false}})) << "no IPv6 here";
  EXPECT_EQ(healthCheckAddresses({"0.0.0.0/0", "::/0"}, primary, local, true), (std::vector<LA>{{"::", false}}));
  // IPv4 CIDRs only: IPv4 on the matching addresses, IPv6 on its wildcard alone.
  EXPECT_EQ(healthCheckAddresses({"10.200.0.0/24"}, primary, local, true),
            (std::vector<LA>{{"::", true}, {"10.200.0.1", false}, {"10.200.0.9", false}}));
  EXPECT_EQ(healthCheckAddresses({"10.200.0.0/24"}, primary, local, false),
            (std::vector<LA>{{"10.200.0.1", false}, {"10.200.0.9", false}}));
  EXPECT_EQ(healthCheckAddresses({"10.200.0.0/24", "fd00:200::/64"}, primary, local, true),
            (std::vector<LA>{{"10.200.0.1", false}, {"10.200.0.9", false}, {"fd00:200::1", false}}));
  EXPECT_EQ(healthCheckAddresses({"127.0.0.0/8", "::/0"}, primary, local, true),
            (std::vector<LA>{{"::", true}, {"127.0.0.1", false}})) << "IPv4 loopback; IPv6 wildcard v6only";
  EXPECT_EQ(healthCheckAddresses({"primary"}, primary, local, true),
            (std::vector<LA>{{"10.200.0.1", false}, {"fd00:200::1", false}}));
  EXPECT_EQ(healthCheckAddresses({"primary"}, {"10.200.0.1"}, local, true), (std::vector<LA>{{"::", true}, {"10.200.0.1", false}}))
      << "no IPv6 primary IP: upstream matches all of IPv6";
  EXPECT_EQ(healthCheckAddresses({"10.99.0.0/16"}, primary, local, false), (std::vector<LA>{})) << "nothing matches: no socket";
}

std::string get6(uint16_t port, const std::string& request) {
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_port = htons(port);
  a.sin6_addr = in6addr_loopback;
  return exchange(AF_INET6, reinterpret_cast<sockaddr*>(&a), sizeof a, request);
}

uint16_t freePort() {
  boost::asio::io_context io;
  HttpServer s(io, [](const std::string&) { return HttpResponse{}; });
  if (!s.listen("127.0.0.1:0")) return 0;
  uint16_t p = s.port();
  s.stop();
  return p;
}

// Every address of the list answers for the port; one that cannot be bound leaves none open
// (and is told once); the proxy's health is asked per request.
TEST(ServiceHealth, ServersListenOnEveryAddressAndAnswerProxyHealth) {
  if (!hostHasIPv6()) GTEST_SKIP() << "no IPv6 here";
  boost::asio::io_context io;
  std::atomic<bool> healthy{true};
  ServiceHealthServers servers(io, [&] { return healthy.load(); });
  int failures = 0;
  servers.onListenFailed([&](const ServiceHealth&, uint16_t, const std::string&) { ++failures; });
  const uint16_t port = freePort();
  ASSERT_NE(port, 0);
  std::map<uint16_t, ServiceHealth> wanted;
  wanted[port] = {{"shop", "web"}, 2};
  auto work = boost::asio::make_work_guard(io);  // no server open for a moment below
  std::thread t([&] { io.run_for(std::chrono::seconds(10)); });
  // The servers live on the io thread: every sync runs there, as in the daemon.
  auto sync = [&](const std::map<uint16_t, ServiceHealth>& w, const std::vector<ListenAddress>& a) {
    std::promise<void> done;
    boost::asio::post(io, [&] { servers.sync(w, a); done.set_value(); });
    done.get_future().wait();
  };
  sync(wanted, {{"127.0.0.1", false}, {"::1", false}});
  EXPECT_EQ(servers.listening(), 1u);
  const std::string req = "GET / HTTP/1.0\r\n\r\n";
  std::string r4 = get(port, req), r6 = get6(port, req);
  EXPECT_EQ(r4.rfind("HTTP/1.0 200", 0), 0u) << r4;
  EXPECT_EQ(r6.rfind("HTTP/1.0 200", 0), 0u) << r6;
  healthy = false;
  r6 = get6(port, req);
  EXPECT_EQ(r6.rfind("HTTP/1.0 503", 0), 0u) << r6;
  EXPECT_NE(r6.find("\"serviceProxyHealthy\": false"), std::string::npos) << r6;
  healthy = true;
  // Another process holds the port on ::1: the IPv4 socket is closed again, nothing half-open.
  boost::asio::io_context other;
  HttpServer squatter(other, [](const std::string&) { return HttpResponse{}; });
  sync({}, {{"127.0.0.1", false}, {"::1", false}});
  ASSERT_TRUE(squatter.listen("[::1]:" + std::to_string(port)));
  sync(wanted, {{"127.0.0.1", false}, {"::1", false}});
  EXPECT_EQ(servers.listening(), 0u);
  EXPECT_EQ(failures, 1);
  EXPECT_EQ(get(port, req), "connect failed") << "the IPv4 half must not stay open";
  squatter.stop();
  // A dual-stack "::" socket answers both families.
  sync(wanted, {{"::", false}});
  EXPECT_EQ(servers.listening(), 1u);
  r4 = get(port, req);
  r6 = get6(port, req);
  EXPECT_EQ(r4.rfind("HTTP/1.0 200", 0), 0u) << r4;
  EXPECT_EQ(r6.rfind("HTTP/1.0 200", 0), 0u) << r6;
  sync({}, {{"::", false}});
  EXPECT_EQ(get(port, req), "connect failed");
  io.stop();
  t.join();
}

TEST(DebugEndpoint, ShowsWhatWasProgrammedPerServiceAsEscapedJson) {
  auto v4 = std::make_shared<dataplane::DesiredState>();
  dataplane::ServicePortInfo p;
  p.name.service = {"shop", "web"};
  p.nameString = "shop/web";
  p.clusterIP = "10.96.0.80";
  p.port = 80;
  p.nodePort = 30080;
  dataplane::EndpointInfo e;
  e.hostPort = "10.244.1.2:8080";
  e.ready = e.local = true;
  p.endpoints.push_back(e);
  p.clusterEndpoints = {0};
  auto hostile = p;
  hostile.name.service = {"x", "evil\"\n\xff"};
  hostile.nameString = "x/evil\"\n\xff";
  v4->ports = dataplane::PortList(dataplane::PortList::Vec{std::make_shared<const dataplane::ServicePortInfo>(p),
                                                            std::make_shared<const dataplane::ServicePortInfo>(hostile)});
  DebugView view{"0.16.0", "iptables", "node1", {v4}, {{"10.200.0.1"}, {"10.244.0.0/24"}, {"10.96.0.0/16"}}, {32000}};
  auto state = debugResponse("/state", view);
  EXPECT_EQ(state.status, 200);
  auto j = nlohmann::json::parse(state.body);
  EXPECT_EQ(j["applied"][0]["servicePorts"], 2);
  EXPECT_EQ(j["primaryNodeIPs"][0], "10.200.0.1");
  EXPECT_EQ(j["serviceCIDRs"][0], "10.96.0.0/16");
  EXPECT_EQ(j["healthCheckNodePorts"][0], 32000);
  auto one = debugResponse("/services/shop/web", view);
  ASSERT_EQ(one.status, 200) << one.body;
  auto svc = nlohmann::json::parse(one.body);
  ASSERT_EQ(svc.size(), 1u);
  EXPECT_EQ(svc[0]["clusterIP"], "10.96.0.80");
  EXPECT_EQ(svc[0]["nodePort"], 30080);
  EXPECT_EQ(svc[0]["clusterEndpoints"][0], "10.244.1.2:8080");
  EXPECT_EQ(svc[0]["endpoints"][0]["local"], true);
  auto all = debugResponse("/services", view);
  EXPECT_EQ(nlohmann::json::parse(all.body).size(), 2u) << "the hostile name is escaped, the JSON stays valid";
  EXPECT_EQ(debugResponse("/services/shop/none", view).status, 404);
  EXPECT_EQ(debugResponse("/other", view).status, 404);
  EXPECT_NE(debugResponse("/", view).body.find("/debug/kproxy/services"), std::string::npos);
}

}  // namespace
}  // namespace kproxy::daemon
