#include "iptables/renderer.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <initializer_list>
#include <optional>
#include <string_view>
#include <unordered_set>

#include "iptables/chain_names.h"
#include "iptables/nfacct.h"

namespace kproxy::iptables {

using dataplane::DesiredState;
using dataplane::EndpointInfo;
using dataplane::ServicePortInfo;
using model::IPFamily;
using std::string_view;

std::string probabilityString(size_t n) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%0.10f", 1.0 / static_cast<double>(n));
  return buf;
}

namespace {

// One word of a rule: plain text, or "a" + "b" in double quotes (a comment), built without
// allocating since a partial render writes a line per service on every sync.
struct Word {
  Word(string_view s) : a(s) {}          // NOLINT: implicit by design
  Word(const std::string& s) : a(s) {}   // NOLINT
  Word(const char* s) : a(s) {}          // NOLINT
  static Word quoted(string_view a, string_view b) {
    Word w(a);
    w.b = b;
    w.quote = true;
    return w;
  }
  string_view a, b;
  bool quote = false;
};

// Accumulates restore lines; words are joined by one space like kube-proxy's LineBuffer.
class LineBuffer {
 public:
  void line(std::initializer_list<Word> words) {
    bool first = true;
    for (const Word& w : words) {
      if (w.a.empty() && !w.quote) continue;
      if (!first) buf_ += ' ';
      if (w.quote) buf_ += '"';
      buf_.append(w.a);
      if (w.quote) {
        buf_.append(w.b);
        buf_ += '"';
      }
      first = false;
    }
    buf_ += '\n';
    ++lines_;
  }
  void chainLine(string_view chain) {
    buf_ += ':';
    buf_.append(chain);
    buf_.append(" - [0:0]\n");
    ++lines_;
  }
  const std::string& data() const { return buf_; }
  std::string take() { return std::move(buf_); }  // the text; the buffer is left empty
  size_t lines() const { return lines_; }
  void reserve(size_t n) { buf_.reserve(n); }

 private:
  std::string buf_;
  size_t lines_ = 0;
};

struct PortNumber {
  explicit PortNumber(unsigned v) {
    auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
    (void)ec;
    len = static_cast<size_t>(p - buf);
  }
  string_view view() const { return {buf, len}; }
  char buf[8];
  size_t len;
};

const char* filterTarget(dataplane::PortPlan::Filter f) {
  return f == dataplane::PortPlan::Filter::kReject ? "REJECT" : f == dataplane::PortPlan::Filter::kDrop ? "DROP" : "";
}

}  // namespace

Renderer::Renderer(RenderOptions options) : options_(std::move(options)) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%x", 1u << options_.masqueradeBit);
  markHex_ = buf;
  probabilities_.push_back("<bad>");
}

bool Renderer::localhostNodePortsEnabled() const {
  // As upstream: only IPv4, and only when the NodePort addresses include 127.0.0.1.
  if (!options_.localhostNodePorts || options_.family != IPFamily::kIPv4) return false;
  if (options_.nodePortAddresses.empty()) return true;
  auto loop = net::parseIP("127.0.0.1");
  return std::any_of(options_.nodePortAddresses.begin(), options_.nodePortAddresses.end(),
                     [&](const net::Cidr& c) { return c.contains(*loop); });
}

const Renderer::ServiceChains& Renderer::chainsFor(const ServicePortInfo& port) {
  auto& names = names_[static_cast<int>(port.protocol)];
  auto it = names.find(string_view(port.nameString));
  if (it != names.end()) return it->second;
  std::string hash = portProtoHash(port.nameString, model::protocolLower(port.protocol));
  ServiceChains c{std::string(kSvcPrefix) + hash, std::string(kSvlPrefix) + hash, std::string(kExtPrefix) + hash,
                  std::string(kFwPrefix) + hash};
  return names.emplace(port.nameString, std::move(c)).first->second;
}

std::vector<std::string> Renderer::natChainsOf(const ServicePortInfo& port) {
  dataplane::PortPlan plan = dataplane::planPort(port);
  const ServiceChains& c = chainsFor(port);
  std::vector<std::string> out;
  if (plan.usesExternalChain) out.push_back(c.ext);
  if (plan.usesFirewallChain) out.push_back(c.fw);
  if (plan.usesClusterChain) out.push_back(c.svc);
  if (plan.usesLocalChain) out.push_back(c.svl);
  string_view proto = model::protocolLower(port.protocol);
  for (size_t i : port.reachableEndpoints)
    out.push_back(endpointChainName(port.nameString, proto, port.endpoints[i].hostPort));
  return out;
}

// One render: the state of a single restore text being built.
class RenderPass {
 public:
  // `portsToWrite`: how many ports' chains this pass writes, to size its buffers.
  RenderPass(Renderer& r, const DesiredState& state, const std::set<model::NamespacedName>* changed,
             std::optional<size_t> portsToWrite = std::nullopt)
      : r_(r), opt_(r.options_), changed_(changed), ipv6_(opt_.family == IPFamily::kIPv6) {
    size_t endpoints = state.endpointCount();
    largeCluster_ = endpoints > kLargeClusterEndpointsThreshold;
    size_t ports = portsToWrite.value_or(changed ? 0 : state.ports.size());
    size_t perPortEndpoints = state.ports.empty() ? 0 : endpoints / state.ports.size() + 1;
    // The NAT rules' buffer becomes the whole text: room for the chain lines and the filter table too.
    size_t chainBytes = 4096 + ports * (96 + perPortEndpoints * 32);
    natRules_.reserve(state.ports.size() * 200 + ports * (600 + perPortEndpoints * 260) + chainBytes);
    natChains_.reserve(chainBytes);
    // The detect-local match of this sync (the Node's pod CIDRs may have changed since the last).
    const dataplane::LocalMatch local = r_.options_.localMatch();
    ifLocal_ = local.iptables(false);
    ifNotLocal_ = local.iptables(true);
    localhostNodePorts_ = r_.localhostNodePortsEnabled();
  }

  RenderResult run(const DesiredState& state, std::vector<std::string> deleted) {
    for (auto c : {kServicesChain, kExternalServicesChain, kForwardChain, kNodePortsChain, kProxyFirewallChain})
      filterChains_.chainLine(c);
    for (auto c : {kServicesChain, kNodePortsChain, kPostroutingChain, kMarkMasqChain}) natChains_.chainLine(c);

    std::string markMask = r_.markHex_ + "/" + r_.markHex_;
    natRules_.line({"-A", kPostroutingChain, "-m mark ! --mark", markMask, "-j RETURN"});
    // Clear the mark so a packet that re-traverses the stack is not masqueraded twice.
    natRules_.line({"-A", kPostroutingChain, "-j MARK --xor-mark", r_.markHex_});
    natRules_.line({"-A", kPostroutingChain, "-m comment --comment",
                    "\"kubernetes service traffic requiring SNAT\"", "-j MASQUERADE --random-fully"});
    natRules_.line({"-A", kMarkMasqChain, "-j MARK --or-mark", r_.markHex_});

    if (localhostNodePorts_) {
      // route_localnet opens 127.0.0.0/8 to the network (issue 90259); this closes it again.
      filterChains_.chainLine(kKubeletFirewallChain);
      filterRules_.line({"-A", kKubeletFirewallChain, "-m comment --comment",
                         "\"block incoming localnet connections\"", "-d 127.0.0.0/8 ! -s 127.0.0.0/8",
                         "-m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP"});
    }

    for (const auto& port : state.ports) writePort(port);

    if (existing_) addStaleChains(deleted);
    std::sort(deleted.begin(), deleted.end());
    deleted.erase(std::unique(deleted.begin(), deleted.end()), deleted.end());
    for (const auto& chain : deleted) {
      // A chain line flushes the chain, so the -X that follows finds it empty.
      natChains_.chainLine(chain);
      natRules_.line({"-X", chain});
    }

    writeNodePortsJump();

    if (!opt_.conntrackTCPLiberal)
      filterRules_.line({"-A", kForwardChain, "-m conntrack --ctstate INVALID",
                         opt_.nfacctInvalidDropped ? "-m nfacct --nfacct-name" : "", opt_.nfacctInvalidDropped ? kCtStateInvalidDroppedCounter : "",
                         "-j DROP"});
    filterRules_.line({"-A", kForwardChain, "-m comment --comment", "\"kubernetes forwarding rules\"",
                       "-m mark --mark", markMask, "-j ACCEPT"});
    filterRules_.line({"-A", kForwardChain, "-m comment --comment", "\"kubernetes forwarding conntrack rule\"",
                       "-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"});

    // The NAT rules are most of the text: it is made in their buffer, everything before them
    // put in front in place, so the text never exists twice (33 MB at 10,000 Services).
    std::string head;
    head.reserve(filterChains_.data().size() + filterRules_.data().size() + natChains_.data().size() + 4096);
    auto jumps = [&](std::string& out, std::string_view table) {
      if (!extras_) return;
      for (const auto& j : extras_->missingJumps)
        if (j.table == table) out += "-I " + j.srcChain + " 1 " + j.spec() + "\n";
    };
    if (extras_ && extras_->canary) head += "*mangle\n:" + std::string(kCanaryChain) + " - [0:0]\nCOMMIT\n";
    const std::string canary = extras_ && extras_->canary ? ":" + std::string(kCanaryChain) + " - [0:0]\n" : "";
    head += "*filter\n";
    head += filterChains_.data();
    head += canary;
    head += filterRules_.data();
    jumps(head, "filter");
    head += "COMMIT\n*nat\n";
    head += natChains_.data();
    head += canary;
    RenderResult res;
    res.text = natRules_.take();
    std::string tail;
    jumps(tail, "nat");
    tail += "COMMIT\n";
    if (res.text.capacity() < res.text.size() + head.size() + tail.size())
      res.text.reserve(res.text.size() + head.size() + tail.size());
    res.text.insert(0, head);
    res.text += tail;
    res.deletedChains = std::move(deleted);
    res.filterChains = filterChains_.lines();
    res.filterRules = filterRules_.lines();
    res.natChains = natChains_.lines();
    res.natRules = natRules_.lines();
    res.servicePortsWritten = written_;
    return res;
  }

  void setExtras(const FullSyncExtras* extras) { extras_ = extras; }

  // Chunked full renders: only the given ports' own chains, as one nat restore.
  std::string runChainsOnly(dataplane::PortList::Range ports, std::vector<std::string>& declared) {
    captureTopLevel(false);  // top-level lines go to a buffer nobody reads
    for (const auto& p : ports) writePort(p);
    for (auto line : splitLines(natChains_.data())) declared.emplace_back(line.substr(1, line.find(' ') - 1));
    // Endpoint chains jump to KUBE-MARK-MASQ, which must exist on a first sync too; declaring it
    // again (it flushes) with its one rule is harmless.
    std::string text = "*nat\n:" + std::string(kMarkMasqChain) + " - [0:0]\n";
    text += natChains_.data();
    text += "-A " + std::string(kMarkMasqChain) + " -j MARK --or-mark " + r_.markHex_ + "\n";
    text += natRules_.data();
    text += "COMMIT\n";
    return text;
  }
  void setDeclaredElsewhere(const std::vector<std::string>* declared) { declaredElsewhere_ = declared; }

  // A full render deletes the kernel's service chains that it did not just declare.
  void setExistingChains(const std::vector<std::string>* existing) { existing_ = existing; }

  // Sends each service's top-level rules to separate buffers (a partial sync diffs them);
  // with topOnly, its own chains are not written at all.
  void captureTopLevel(bool topOnly) {
    topNat_ = &capturedNat_;
    topFilter_ = &capturedFilter_;
    topOnly_ = topOnly;
  }
  const LineBuffer& capturedNat() const { return capturedNat_; }
  size_t natChainLines() const { return natChains_.lines(); }
  size_t natRuleLines() const { return natRules_.lines(); }
  const LineBuffer& capturedFilter() const { return capturedFilter_; }

  // Partial sync input proportional to the change: top-level chains are not flushed; the
  // changed services' old top-level rules are deleted (-D) and their new ones added, in front
  // of KUBE-SERVICES so the NodePorts jump stays last.
  RenderResult runIncremental(const LineBuffer& beforeNat, const LineBuffer& beforeFilter,
                              std::vector<std::string> deleted) {
    std::sort(deleted.begin(), deleted.end());
    deleted.erase(std::unique(deleted.begin(), deleted.end()), deleted.end());
    for (const auto& chain : deleted) natChains_.chainLine(chain);

    RenderResult res;
    auto diffInto = [&](const LineBuffer& before, const LineBuffer& after, std::string& out, size_t& count) {
      std::vector<string_view> b = splitLines(before.data()), a = splitLines(after.data());
      std::sort(b.begin(), b.end());
      std::sort(a.begin(), a.end());
      std::vector<string_view> gone, fresh;
      std::set_difference(b.begin(), b.end(), a.begin(), a.end(), std::back_inserter(gone));
      std::set_difference(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(fresh));
      for (auto line : gone) {
        out += "-D";
        out.append(line.substr(2));
        out += '\n';
      }
      for (auto line : fresh) {
        static constexpr string_view kServicesPrefix = "-A KUBE-SERVICES ";
        if (line.substr(0, kServicesPrefix.size()) == kServicesPrefix) {
          out += "-I KUBE-SERVICES 1 ";
          out.append(line.substr(kServicesPrefix.size()));
        } else {
          out.append(line);
        }
        out += '\n';
      }
      count += gone.size() + fresh.size();
    };
    res.text = "*filter\n";
    diffInto(beforeFilter, capturedFilter_, res.text, res.filterRules);
    res.text += "COMMIT\n*nat\n";
    res.text += natChains_.data();
    diffInto(beforeNat, capturedNat_, res.text, res.natRules);
    res.text += natRules_.data();
    for (const auto& chain : deleted) res.text += "-X " + chain + "\n";
    res.text += "COMMIT\n";
    res.natRules += natRules_.lines() + deleted.size();
    res.natChains = natChains_.lines();
    res.deletedChains = std::move(deleted);
    res.servicePortsWritten = written_;
    return res;
  }

 private:
  void addStaleChains(std::vector<std::string>& deleted) {
    bool any = std::any_of(existing_->begin(), existing_->end(), [](const std::string& c) { return isServiceChainName(c); });
    if (!any) return;
    // Chains declared by this render, read back from the chain lines (":NAME - [0:0]").
    std::unordered_set<string_view> declared;
    declared.reserve(natChains_.lines());
    for (auto line : splitLines(natChains_.data())) declared.insert(line.substr(1, line.find(' ') - 1));
    if (declaredElsewhere_)
      for (const auto& c : *declaredElsewhere_) declared.insert(c);
    for (const auto& c : *existing_)
      if (isServiceChainName(c) && !declared.count(c)) deleted.push_back(c);
  }

  static std::vector<string_view> splitLines(const std::string& text) {
    std::vector<string_view> out;
    size_t pos = 0;
    while (pos < text.size()) {
      size_t end = text.find('\n', pos);
      if (end == std::string::npos) end = text.size();
      out.emplace_back(text.data() + pos, end - pos);
      pos = end + 1;
    }
    return out;
  }

  void writeNodePortsJump() {
    static constexpr string_view kComment =
        "\"kubernetes service nodeports; NOTE: this must be the last rule in this chain\"";
    if (opt_.nodePortAddresses.empty()) {
      string_view except = ipv6_ ? "! -d ::1/128" : (localhostNodePorts_ ? "" : "! -d 127.0.0.0/8");
      natRules_.line({"-A", kServicesChain, "-m comment --comment", kComment, "-m addrtype --dst-type LOCAL",
                      except, "-j", kNodePortsChain});
      return;
    }
    std::vector<net::IPAddress> ips;
    for (const auto& s : opt_.nodeIPs) {
      auto ip = net::parseIP(s);
      if (!ip || ip->family != opt_.family) continue;
      bool match = std::any_of(opt_.nodePortAddresses.begin(), opt_.nodePortAddresses.end(),
                               [&](const net::Cidr& c) { return c.contains(*ip); });
      if (!match) continue;
      if (ip->isLoopback() && (ipv6_ || !localhostNodePorts_)) continue;
      ips.push_back(*ip);
    }
    std::sort(ips.begin(), ips.end());
    ips.erase(std::unique(ips.begin(), ips.end()), ips.end());
    for (const auto& ip : ips)
      natRules_.line({"-A", kServicesChain, "-m comment --comment", kComment, "-d", ip.str(), "-j", kNodePortsChain});
  }

  const std::string& probability(size_t n) {
    auto& cache = r_.probabilities_;
    while (cache.size() <= n) cache.push_back(probabilityString(cache.size()));
    return cache[n];
  }

  bool nodeIPIn(const std::string& cidrText) const {
    auto cidr = net::parseCidr(cidrText);
    if (!cidr) return false;
    for (const auto& s : opt_.nodeIPs) {
      auto ip = net::parseIP(s);
      if (ip && ip->family == opt_.family) return cidr->contains(*ip);  // the node IP is the first of the family
    }
    return false;
  }


 public:
  void writePort(const ServicePortInfo& p) {
    const dataplane::PortPlan plan = dataplane::planPort(p);
    const Renderer::ServiceChains& chains = r_.chainsFor(p);
    const string_view proto = model::protocolLower(p.protocol);
    const PortNumber port(p.port);
    const PortNumber nodePort(p.nodePort);
    const string_view name = p.nameString;

    const string_view internalChain = p.internalPolicyLocal ? chains.svl : chains.svc;
    const string_view externalPolicyChain = p.externalPolicyLocal ? chains.svl : chains.svc;
    const string_view lbChain = plan.usesFirewallChain ? string_view(chains.fw) : string_view(chains.ext);

    const Word clusterComment = Word::quoted(name, " cluster IP");
    const Word internalFilterComment =
        Word::quoted(name, plan.internalNoLocal() ? " has no local endpoints" : " has no endpoints");
    const Word externalFilterComment =
        Word::quoted(name, plan.externalNoLocal() ? " has no local endpoints" : " has no endpoints");

    // Capture the ClusterIP.
    if (plan.hasInternalEndpoints)
      topNat_->line({"-A", kServicesChain, "-m comment --comment", clusterComment, "-m", proto, "-p", proto, "-d",
                      p.clusterIP, "--dport", port.view(), "-j", internalChain});
    else
      topFilter_->line({"-A", kServicesChain, "-m comment --comment", internalFilterComment, "-m", proto, "-p",
                         proto, "-d", p.clusterIP, "--dport", port.view(), "-j", filterTarget(plan.internalFilter)});

    // Capture externalIPs.
    if (!p.externalIPs.empty()) {
      const Word comment = Word::quoted(name, " external IP");
      for (const auto& ip : p.externalIPs) {
        if (plan.hasEndpoints)
          topNat_->line({"-A", kServicesChain, "-m comment --comment", comment, "-m", proto, "-p", proto, "-d", ip,
                          "--dport", port.view(), "-j", chains.ext});
        if (!plan.hasExternalEndpoints)
          topFilter_->line({"-A", kExternalServicesChain, "-m comment --comment", externalFilterComment, "-m",
                             proto, "-p", proto, "-d", ip, "--dport", port.view(), "-j", filterTarget(plan.externalFilter)});
      }
    }

    // Capture load-balancer ingress IPs.
    if (!p.loadBalancerVIPs.empty()) {
      const Word comment = Word::quoted(name, " loadbalancer IP");
      const std::string fwText = " traffic not accepted by " + chains.fw;
      const Word fwComment = Word::quoted(name, fwText);
      for (const auto& ip : p.loadBalancerVIPs) {
        if (plan.hasEndpoints)
          topNat_->line({"-A", kServicesChain, "-m comment --comment", comment, "-m", proto, "-p", proto, "-d", ip,
                          "--dport", port.view(), "-j", lbChain});
        if (plan.usesFirewallChain)
          topFilter_->line({"-A", kProxyFirewallChain, "-m comment --comment", fwComment, "-m", proto, "-p", proto,
                             "-d", ip, "--dport", port.view(), "-j DROP"});
      }
      if (!plan.hasExternalEndpoints)
        for (const auto& ip : p.loadBalancerVIPs)
          topFilter_->line({"-A", kExternalServicesChain, "-m comment --comment", externalFilterComment, "-m",
                             proto, "-p", proto, "-d", ip, "--dport", port.view(), "-j", filterTarget(plan.externalFilter)});
    }

    // Capture NodePorts.
    if (p.nodePort != 0) {
      // Upstream counts NodePort packets to 127.0.0.0/8 (route_localnet's exposure) in an nfacct
      // object, with a rule of their own ahead of the general one.
      if (plan.hasEndpoints && localhostNodePorts_ && opt_.nfacctLocalhostNodePorts)
        topNat_->line({"-A", kNodePortsChain, "-m comment --comment", name, "-m", proto, "-p", proto, "-d 127.0.0.0/8 --dport",
                        nodePort.view(), "-m nfacct --nfacct-name", kLocalhostNodePortsAcceptedCounter, "-j", chains.ext});
      if (plan.hasEndpoints)
        topNat_->line({"-A", kNodePortsChain, "-m comment --comment", name, "-m", proto, "-p", proto, "--dport",
                        nodePort.view(), "-j", chains.ext});
      if (!plan.hasExternalEndpoints)
        topFilter_->line({"-A", kExternalServicesChain, "-m comment --comment", externalFilterComment,
                           "-m addrtype --dst-type LOCAL -m", proto, "-p", proto, "--dport", nodePort.view(), "-j",
                           filterTarget(plan.externalFilter)});
    }

    // Health-check NodePorts are accepted whether or not there are local endpoints.
    if (p.healthCheckNodePort != 0) {
      const PortNumber hc(p.healthCheckNodePort);
      topFilter_->line({"-A", kNodePortsChain, "-m comment --comment", Word::quoted(name, " health check node port"),
                         "-m tcp -p tcp --dport", hc.view(), "-j ACCEPT"});
    }

    // Unchanged services keep the chains the kernel already holds.
    if (topOnly_ || (changed_ && !changed_->count(p.name.service))) return;
    ++written_;

    if (plan.hasInternalEndpoints) {
      if (opt_.masqueradeAll)
        natRules_.line({"-A", internalChain, "-m comment --comment", clusterComment, "-m", proto, "-p", proto, "-d",
                        p.clusterIP, "--dport", port.view(), "-j", kMarkMasqChain});
      else if (!ifNotLocal_.empty())
        // Off-cluster traffic to a ClusterIP (a static route to any node) may bounce off-node: masquerade.
        natRules_.line({"-A", internalChain, "-m comment --comment", clusterComment, "-m", proto, "-p", proto, "-d",
                        p.clusterIP, "--dport", port.view(), ifNotLocal_, "-j", kMarkMasqChain});
    }

    if (plan.usesExternalChain) {
      natChains_.chainLine(chains.ext);
      if (!p.externalPolicyLocal) {
        // Cluster policy may cross nodes: masquerade so replies come back through us.
        natRules_.line({"-A", chains.ext, "-m comment --comment",
                        Word::quoted("masquerade traffic for ", std::string(name) + " external destinations"), "-j",
                        kMarkMasqChain});
      } else {
        // Upstream jumps to the SVC chain here, which does not exist when internalTrafficPolicy is
        // Local too (no cluster endpoints are used); fall back to the local chain then.
        string_view shortCircuit = plan.usesClusterChain ? string_view(chains.svc)
                                   : plan.usesLocalChain ? string_view(chains.svl)
                                                         : string_view();
        if (!ifLocal_.empty() && !shortCircuit.empty())
          // Pods reaching an external IP of a Local service skip the policy, as if hairpinning
          // through an outside load balancer.
          natRules_.line({"-A", chains.ext, "-m comment --comment",
                          Word::quoted("pod traffic for ", std::string(name) + " external destinations"), ifLocal_,
                          "-j", shortCircuit});
        natRules_.line({"-A", chains.ext, "-m comment --comment",
                        Word::quoted("masquerade LOCAL traffic for ", std::string(name) + " external destinations"),
                        "-m addrtype --src-type LOCAL -j", kMarkMasqChain});
        if (!shortCircuit.empty())
          natRules_.line({"-A", chains.ext, "-m comment --comment",
                          Word::quoted("route LOCAL traffic for ", std::string(name) + " external destinations"),
                          "-m addrtype --src-type LOCAL -j", shortCircuit});
      }
      if (plan.hasExternalEndpoints) natRules_.line({"-A", chains.ext, "-j", externalPolicyChain});
    }

    if (plan.usesFirewallChain) {
      natChains_.chainLine(chains.fw);
      const Word comment = Word::quoted(name, " loadbalancer IP");
      bool allowFromNode = false;
      for (const auto& cidr : p.loadBalancerSourceRanges) {
        natRules_.line({"-A", chains.fw, "-m comment --comment", comment, "-s", cidr, "-j", chains.ext});
        allowFromNode = allowFromNode || nodeIPIn(cidr);
      }
      // A VIP often is a local address too: the node reaching it loops back with the VIP as source.
      if (allowFromNode)
        for (const auto& ip : p.loadBalancerVIPs)
          natRules_.line({"-A", chains.fw, "-m comment --comment", comment, "-s", ip, "-j", chains.ext});
      // Falling off the end means no DNAT: KUBE-PROXY-FIREWALL in filter drops it.
      natRules_.line({"-A", chains.fw, "-m comment --comment",
                      Word::quoted("other traffic to ", std::string(name) + " will be dropped by KUBE-PROXY-FIREWALL")});
    }

    const string_view protoView = proto;
    std::vector<std::string> sepNames(p.endpoints.size());
    auto sep = [&](size_t i) -> const std::string& {
      if (sepNames[i].empty()) sepNames[i] = endpointChainName(name, protoView, p.endpoints[i].hostPort);
      return sepNames[i];
    };

    if (plan.usesClusterChain) {
      natChains_.chainLine(chains.svc);
      writeServiceToEndpoints(p, chains.svc, p.clusterEndpoints, sep);
    }
    if (plan.usesLocalChain) {
      natChains_.chainLine(chains.svl);
      writeServiceToEndpoints(p, chains.svl, p.localEndpoints, sep);
    }

    for (size_t i : p.reachableEndpoints) {
      const EndpointInfo& ep = p.endpoints[i];
      const std::string& chain = sep(i);
      natChains_.chainLine(chain);
      string_view commentFlag = largeCluster_ ? "" : "-m comment --comment";
      string_view comment = largeCluster_ ? "" : name;
      // Hairpin: a pod reaching its own Service must be masqueraded or the reply bypasses us.
      natRules_.line({"-A", chain, commentFlag, comment, "-s", ep.ip, "-j", kMarkMasqChain});
      natRules_.line({"-A", chain, commentFlag, comment, p.affinityClientIP ? "-m recent --name" : "",
                      p.affinityClientIP ? string_view(chain) : "", p.affinityClientIP ? "--set" : "", "-m", proto,
                      "-p", proto, "-j DNAT --to-destination", ep.hostPort});
    }
  }

 private:
  template <typename SepName>
  void writeServiceToEndpoints(const ServicePortInfo& p, string_view chain, const std::vector<size_t>& eps,
                               SepName& sep) {
    string_view commentFlag = largeCluster_ ? "" : "-m comment --comment";
    std::string arrow;
    auto epComment = [&](const EndpointInfo& ep) -> Word {
      if (largeCluster_) return Word("");
      arrow.assign(" -> ").append(ep.hostPort);
      return Word::quoted(p.nameString, arrow);
    };
    if (p.affinityClientIP) {
      const PortNumber seconds(static_cast<unsigned>(p.stickySeconds));
      for (size_t i : eps)
        natRules_.line({"-A", chain, commentFlag, epComment(p.endpoints[i]), "-m recent --name", sep(i),
                        "--rcheck --seconds", seconds.view(), "--reap -j", sep(i)});
    }
    const size_t n = eps.size();
    for (size_t k = 0; k < n; ++k) {
      size_t i = eps[k];
      if (k + 1 < n)
        natRules_.line({"-A", chain, commentFlag, epComment(p.endpoints[i]),
                        "-m statistic --mode random --probability", probability(n - k), "-j", sep(i)});
      else
        natRules_.line({"-A", chain, commentFlag, epComment(p.endpoints[i]), "-j", sep(i)});
    }
  }

  const std::vector<std::string>* existing_ = nullptr;
  const std::vector<std::string>* declaredElsewhere_ = nullptr;
  const FullSyncExtras* extras_ = nullptr;
  LineBuffer* topNat_ = &natRules_;  // KUBE-SERVICES / KUBE-NODEPORTS lines of a service
  LineBuffer* topFilter_ = &filterRules_;
  LineBuffer capturedNat_, capturedFilter_;
  bool topOnly_ = false;

  Renderer& r_;
  const RenderOptions& opt_;
  const std::set<model::NamespacedName>* changed_;
  bool ipv6_;
  bool largeCluster_ = false;
  bool localhostNodePorts_ = true;
  std::string ifLocal_, ifNotLocal_;  // "-s 10.244.0.0/16" and "! -s 10.244.0.0/16"; empty: none
  size_t written_ = 0;
  LineBuffer filterChains_, filterRules_, natChains_, natRules_;
};

RenderResult Renderer::renderFull(const DesiredState& state, const std::vector<std::string>& existingNatChains,
                                  const FullSyncExtras& extras) {
  // Names of services that are gone need not stay cached.
  for (auto& names : names_)
    if (names.size() > 2 * state.ports.size() + 1024) names.clear();
  RenderPass pass(*this, state, nullptr);
  pass.setExistingChains(&existingNatChains);
  pass.setExtras(&extras);
  return pass.run(state, {});
}

std::vector<std::string> Renderer::renderFullChunked(const DesiredState& state,
                                                    const std::vector<std::string>& existingNatChains,
                                                    const FullSyncExtras& extras, size_t portsPerChunk,
                                                    RenderResult* summary) {
  std::vector<std::string> texts;
  std::vector<std::string> declared;
  size_t chains = 0, rules = 0;
  for (size_t i = 0; i < state.ports.size(); i += portsPerChunk) {
    RenderPass chunk(*this, state, nullptr, portsPerChunk);
    auto begin = state.ports.begin() + static_cast<std::ptrdiff_t>(i);
    auto end = state.ports.begin() + static_cast<std::ptrdiff_t>(std::min(state.ports.size(), i + portsPerChunk));
    texts.push_back(chunk.runChainsOnly({begin, end}, declared));
    chains += chunk.natChainLines();
    rules += chunk.natRuleLines();
  }
  // Last: the top-level chains over the chains now in place, without rewriting those.
  static const std::set<model::NamespacedName> kNone;
  RenderPass top(*this, state, &kNone);
  top.setExistingChains(&existingNatChains);
  top.setDeclaredElsewhere(&declared);
  top.setExtras(&extras);
  RenderResult last = top.run(state, {});
  texts.push_back(std::move(last.text));
  if (summary) {
    *summary = std::move(last);
    summary->natChains += chains;
    summary->natRules += rules;
    summary->servicePortsWritten = state.ports.size();
  }
  return texts;
}

RenderResult Renderer::renderPartial(const DesiredState& current, const DesiredState& previous,
                                     const std::set<model::NamespacedName>& changed) {
  std::vector<std::string> deleted;
  RenderPass before(*this, previous, &changed);
  before.captureTopLevel(true);
  RenderPass after(*this, current, &changed);
  after.captureTopLevel(false);
  for (const auto& svc : changed) {
    std::vector<std::string> chainsBefore, chainsAfter;
    for (const auto& p : previous.portsOf(svc)) {
      before.writePort(p);
      for (auto& c : natChainsOf(p)) chainsBefore.push_back(std::move(c));
    }
    for (const auto& p : current.portsOf(svc)) {
      after.writePort(p);
      for (auto& c : natChainsOf(p)) chainsAfter.push_back(std::move(c));
    }
    std::sort(chainsBefore.begin(), chainsBefore.end());
    std::sort(chainsAfter.begin(), chainsAfter.end());
    std::set_difference(chainsBefore.begin(), chainsBefore.end(), chainsAfter.begin(), chainsAfter.end(),
                        std::back_inserter(deleted));
  }
  return after.runIncremental(before.capturedNat(), before.capturedFilter(), std::move(deleted));
}

}  // namespace kproxy::iptables
