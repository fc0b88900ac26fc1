#include "benchcmd/cluster_files.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <vector>

#include "dataplane/ip.h"

namespace kproxy::benchcmd {

namespace {

constexpr uint32_t kServiceBase = (10u << 24) | (96u << 16);   // 10.96.0.1 upward
constexpr uint32_t kEndpointBase = (10u << 24) | (128u << 16);  // 10.128.0.0 upward

// JSON objects: the manifest loader parses a JSON array directly, much faster than YAML.
std::string service(const std::string& ns, const std::string& name, const std::string& ip) {
  return "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"" + name + "\",\"namespace\":\"" +
         ns + "\"},\"spec\":{\"type\":\"ClusterIP\",\"clusterIP\":\"" + ip + "\",\"clusterIPs\":[\"" + ip +
         "\"],\"ports\":[{\"name\":\"http\",\"port\":" + std::to_string(kTargetPort) +
         ",\"protocol\":\"TCP\",\"targetPort\":" + std::to_string(kPodPort) + "}]}}";
}

std::string slice(const std::string& ns, const std::string& svc, const std::vector<std::string>& ips) {
  std::string eps;
  for (size_t j = 0; j < ips.size(); ++j) {
    if (j) eps += ',';
    eps += "{\"addresses\":[\"" + ips[j] + "\"],\"conditions\":{\"ready\":true},\"nodeName\":\"node" +
           std::to_string(j % 5) + "\"}";
  }
  return "{\"apiVersion\":\"discovery.k8s.io/v1\",\"kind\":\"EndpointSlice\",\"metadata\":{\"name\":\"" + svc +
         "-x7k2p\",\"namespace\":\"" + ns + "\",\"labels\":{\"kubernetes.io/service-name\":\"" + svc +
         "\"}},\"addressType\":\"IPv4\",\"endpoints\":[" + eps +
         "],\"ports\":[{\"name\":\"http\",\"port\":" + std::to_string(kPodPort) + ",\"protocol\":\"TCP\"}]}";
}

// Written beside, then renamed: the proxy's directory watch sees one complete file.
Status writeAtomically(const std::string& dir, const std::string& name, const std::string& text) {
  std::string tmp = dir + "/." + name + ".tmp", path = dir + "/" + name;
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f << text;
    if (!f.flush()) return Status::error("writing " + tmp + ": " + std::strerror(errno));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) return Status::error("rename " + path + ": " + std::strerror(errno));
  return Status::ok();
}

}  // namespace

Status writeCluster(const std::string& dir, int services, int endpoints, int pods) {
  // Files of kServicesPerFile Services, as an API server's list pages: decoding one file at a
  // time keeps the proxy's peak memory what the cluster needs, not what a 10 MB parse needs.
  constexpr int kServicesPerFile = 500;
  std::vector<std::string> ips;
  for (int first = 0; first < services; first += kServicesPerFile) {
    std::string text = "[\n";
    for (int i = first; i < std::min(services, first + kServicesPerFile); ++i) {
      std::string name = "svc-" + std::to_string(i);
      text += (i == first ? "" : ",\n") + service("bench", name, net::ipv4String(kServiceBase + 1 + static_cast<uint32_t>(i)));
      ips.clear();
      for (int j = 0; j < endpoints; ++j) ips.push_back(net::ipv4String(kEndpointBase + static_cast<uint32_t>(i * endpoints + j)));
      text += ",\n" + slice("bench", name, ips);
    }
    char file[32];
    std::snprintf(file, sizeof file, "cluster-%05d.json", first / kServicesPerFile);
    if (Status s = writeAtomically(dir, file, text + "\n]\n"); !s) return s;
  }
  ips.clear();
  for (int i = 1; i <= pods; ++i) ips.push_back("10.244." + std::to_string(i) + ".2");
  std::string target = "[" + service("zz-bench", "target", kTargetIP) + ",\n" + slice("zz-bench", "target", ips) + "]\n";
  if (Status s = writeAtomically(dir, "target.json", target); !s) return s;
  return writeChange(dir, endpoints, 0);
}

Status writeChange(const std::string& dir, int endpoints, int generation) {
  std::vector<std::string> ips;
  const uint32_t base = (10u << 24) | (160u << 16);
  for (int j = 0; j < endpoints; ++j) ips.push_back(net::ipv4String(base + static_cast<uint32_t>(j)));
  // Endpoint 0 moves to a fresh address in every generation.
  if (!ips.empty()) ips[0] = net::ipv4String(base + (1u << 15) + static_cast<uint32_t>(generation));
  return writeAtomically(dir, "change.json",
                         "[" + service("bench", "changing", "10.95.0.11") + ",\n" + slice("bench", "changing", ips) + "]\n");
}

}  // namespace kproxy::benchcmd
