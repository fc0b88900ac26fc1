#include "daemon/render_command.h"

#include <map>
#include <ostream>
#include <set>
#include <sstream>

#include "daemon/flags.h"
#include "dataplane/desired_state.h"
#include "dataplane/ip.h"
#include "iptables/renderer.h"
#include "ebpf/map_layout.h"
#include "ipvs/render_script.h"
#include "nftables/renderer.h"
#include "watch/decode.h"

namespace kproxy::daemon {

namespace {

constexpr const char* kUsage = R"(Usage: kproxy render --manifests PATH... [options]

Print the rules kproxy would program for the Services, EndpointSlices and Nodes in the given
manifests (YAML, multi-document YAML, JSON, or List): iptables-restore input, with
--proxy-mode nftables an `nft -f` file for table ip|ip6 kube-proxy, with --proxy-mode ipvs a
shell script doing what IPVS mode does (kube-ipvs0 addresses, ipset restore, ipvsadm --restore,
the helper rules), with --proxy-mode ebpf the eBPF maps' entries as text (Service addresses and
their endpoint slots). Nothing is programmed.
Directories are read for *.yaml, *.yml and *.json files.

Options:
  --manifests PATH...            manifest files or directories (required)
  --hostname-override, --node NAME
                                 this node's name: selects local endpoints and the Node object
  --cluster-cidr CIDR[,CIDR]     masquerade traffic to ClusterIPs from outside this range
  --detect-local-mode MODE       ClusterCIDR (default), NodeCIDR (the Node's spec.podCIDRs),
                                 BridgeInterface or InterfaceNamePrefix
  --pod-bridge-interface NAME    the bridge of BridgeInterface
  --pod-interface-name-prefix P  the prefix of InterfaceNamePrefix
  --masquerade-all               masquerade all traffic to ClusterIPs
  --nodeport-addresses CIDR[,..] NodePorts only on node addresses in these ranges
  --node-ip IP[,IP]              node addresses (default: from the Node object)
  --iptables-masquerade-bit N    fwmark bit for masquerading (default 14: 0x4000)
  --iptables-localhost-nodeports true|false
                                 allow NodePorts on 127.0.0.1 (default true)
  --proxy-mode iptables|nftables|ipvs|ebpf
                                 the rules of this mode (default iptables)
  --ipvs-scheduler NAME          IPVS scheduler (default rr)
  --family 4|6                   IP family to render (default 4)
  -h, --help                     this text

Exit status: 0 rendered, 1 some manifest had errors (reported on stderr, the others are
rendered), 2 usage error.
)";

}  // namespace

int runRender(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  std::vector<std::string> manifests;
  std::string node, mode = "iptables", scheduler = "rr";
  iptables::RenderOptions opts;
  std::vector<std::string> extraNodeIPs;
  std::vector<std::string> cidrArgs, npaArgs;
  std::map<std::string, std::string> interfaceArgs;

  auto usageError = [&](const std::string& msg) {
    err << "kproxy render: " << msg << "\n(see kproxy render --help)\n";
    return 2;
  };

  for (size_t i = 0; i < args.size(); ++i) {
    std::string a = args[i];
    std::string value;
    bool hasInline = false;
    if (auto eq = a.find('='); a.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = a.substr(eq + 1);
      a = a.substr(0, eq);
      hasInline = true;
    }
    auto next = [&](std::string& v) -> bool {
      if (hasInline) {
        v = value;
        return true;
      }
      if (i + 1 >= args.size()) return false;
      v = args[++i];
      return true;
    };
    std::string v;
    if (a == "-h" || a == "--help") {
      out << kUsage;
      return 0;
    } else if (a == "--manifests") {
      if (hasInline) manifests.push_back(value);
      while (i + 1 < args.size() && args[i + 1].rfind("-", 0) != 0) manifests.push_back(args[++i]);
      if (manifests.empty()) return usageError("--manifests needs at least one path");
    } else if (a == "--node" || a == "--hostname-override") {
      if (!next(node)) return usageError(a + " needs a value");
    } else if (a == "--cluster-cidr") {
      if (!next(v)) return usageError(a + " needs a value");
      for (auto& c : splitComma(v)) cidrArgs.push_back(c);
    } else if (a == "--detect-local-mode") {
      if (!next(v)) return usageError(a + " needs a value");
      if (v == "ClusterCIDR") opts.localMode = dataplane::LocalMode::kClusterCIDR;
      else if (v == "NodeCIDR") opts.localMode = dataplane::LocalMode::kNodeCIDR;
      else if (v == "BridgeInterface") opts.localMode = dataplane::LocalMode::kBridgeInterface;
      else if (v == "InterfaceNamePrefix") opts.localMode = dataplane::LocalMode::kInterfaceNamePrefix;
      else return usageError(a + ": \"" + v + "\" is not ClusterCIDR, NodeCIDR, BridgeInterface or InterfaceNamePrefix");
    } else if (a == "--pod-bridge-interface" || a == "--pod-interface-name-prefix") {
      if (!next(v)) return usageError(a + " needs a value");
      if (v.empty() || v.size() > 15) return usageError(a + ": \"" + v + "\" is not an interface name");
      interfaceArgs[a] = v;
    } else if (a == "--masquerade-all") {
      opts.masqueradeAll = !hasInline || value == "true";
    } else if (a == "--nodeport-addresses") {
      if (!next(v)) return usageError(a + " needs a value");
      for (auto& c : splitComma(v)) npaArgs.push_back(c);
    } else if (a == "--node-ip") {
      if (!next(v)) return usageError(a + " needs a value");
      for (auto& ip : splitComma(v)) {
        auto parsed = net::parseIP(ip);
        if (!parsed) return usageError("--node-ip: \"" + ip + "\" is not a valid IP address");
        extraNodeIPs.push_back(parsed->str());
      }
    } else if (a == "--iptables-masquerade-bit") {
      if (!next(v)) return usageError(a + " needs a value");
      try {
        size_t pos = 0;
        int bit = std::stoi(v, &pos);
        if (pos != v.size() || bit < 0 || bit > 31) throw std::out_of_range("bit");
        opts.masqueradeBit = bit;
      } catch (const std::exception&) {
        return usageError("--iptables-masquerade-bit: \"" + v + "\" is not in 0-31");
      }
    } else if (a == "--iptables-localhost-nodeports") {
      if (!next(v) || (v != "true" && v != "false")) return usageError(a + " needs true or false");
      opts.localhostNodePorts = v == "true";
    } else if (a == "--proxy-mode") {
      if (!next(mode)) return usageError(a + " needs a value");
    } else if (a == "--ipvs-scheduler") {
      if (!next(scheduler)) return usageError(a + " needs a value");
    } else if (a == "--family") {
      if (!next(v)) return usageError(a + " needs a value");
      if (v == "4") opts.family = model::IPFamily::kIPv4;
      else if (v == "6") opts.family = model::IPFamily::kIPv6;
      else return usageError("--family must be 4 or 6");
    } else {
      return usageError("unknown argument \"" + a + "\"");
    }
  }
  if (manifests.empty()) return usageError("--manifests is required");
  if (!ipvs::isSchedulerName(scheduler))
    return usageError("--ipvs-scheduler: \"" + scheduler + "\" is not an IPVS scheduler name (Linux has " + ipvs::kSchedulerNames + ")");
  if (mode != "iptables" && mode != "nftables" && mode != "ipvs" && mode != "ebpf")
    return usageError("--proxy-mode " + mode + ": iptables, nftables, ipvs or ebpf can be rendered");
  for (const auto& c : cidrArgs) {
    auto parsed = net::parseCidr(c);
    if (!parsed) return usageError("--cluster-cidr: \"" + c + "\" is not a valid CIDR");
    opts.clusterCIDRs.push_back(*parsed);
  }
  for (const auto& c : npaArgs)
    if (!dataplane::isNodePortKeyword(c) && !net::parseCidr(c))
      return usageError("--nodeport-addresses: \"" + c + "\" is not a valid CIDR or one of primary, localhost, all");
  opts.setNodePortAddresses(npaArgs);

  watch::Objects objects = watch::loadManifests(manifests);
  for (const auto& e : objects.errors) err << "error: " << e.str() << " (skipped)\n";

  dataplane::NodeContext ctx;
  ctx.nodeName = node;
  for (const auto& n : objects.nodes) {
    if (n.meta.name != node) continue;
    ctx.nodeLabels = n.meta.labels;
    for (const auto& a : n.addresses)
      if (a.type == "InternalIP" || a.type == "ExternalIP") opts.nodeIPs.push_back(a.address);
  }
  opts.nodeIPs.insert(opts.nodeIPs.begin(), extraNodeIPs.begin(), extraNodeIPs.end());
  if (opts.localMode == dataplane::LocalMode::kBridgeInterface) opts.localInterface = interfaceArgs["--pod-bridge-interface"];
  if (opts.localMode == dataplane::LocalMode::kInterfaceNamePrefix) opts.localInterface = interfaceArgs["--pod-interface-name-prefix"];
  if ((opts.localMode == dataplane::LocalMode::kBridgeInterface || opts.localMode == dataplane::LocalMode::kInterfaceNamePrefix) &&
      opts.localInterface.empty())
    return usageError(std::string("--detect-local-mode needs ") +
                      (opts.localMode == dataplane::LocalMode::kBridgeInterface ? "--pod-bridge-interface" : "--pod-interface-name-prefix"));
  // The Node's pod CIDRs and primary IPs ("primary" NodePort addresses) and the ServiceCIDRs'
  // ranges, as the daemon takes them.
  {
    const model::Node* self = nullptr;
    for (const auto& n : objects.nodes)
      if (n.meta.name == node) self = &n;
    dataplane::NodeInfo info = dataplane::nodeInfoOf(self, "");
    std::set<std::string> cidrs;
    for (const auto& c : objects.serviceCIDRs) cidrs.insert(c.cidrs.begin(), c.cidrs.end());
    info.serviceCIDRs.assign(cidrs.begin(), cidrs.end());
    opts.setNodeInfo(info);
  }

  dataplane::DesiredState state = dataplane::buildDesiredState(objects.services, objects.slices, ctx, opts.family);
  if (mode == "ebpf") {
    out << ebpf::renderText(ebpf::entriesOf(state, ebpf::entryOptionsFor(opts)));
  } else if (mode == "nftables") {
    out << nftables::toText(nftables::Renderer(opts).renderFull(state));
  } else if (mode == "ipvs") {
    ipvs::IpvsOptions io;
    io.proxy = opts;
    io.scheduler = scheduler;
    out << ipvs::renderScript(state, io);
  } else {
    iptables::Renderer renderer(opts);
    out << renderer.renderFull(state).text;
  }
  out.flush();
  return objects.errors.empty() ? 0 : 1;
}

}  // namespace kproxy::daemon
