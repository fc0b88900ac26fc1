// deploy/kproxy.yaml: the fields the DaemonSet depends on, and its command line and ConfigMap
// read by kproxy's own flag and config parsers.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <map>
#include <set>

#include "daemon/flags.h"

namespace kproxy::daemon {
namespace {

class DeployManifests : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const auto& doc : YAML::LoadAllFromFile(std::string(KPROXY_SOURCE_DIR) + "/deploy/kproxy.yaml"))
      if (doc["kind"]) byKind[doc["kind"].as<std::string>()].push_back(doc);
    for (const char* kind : {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "ConfigMap", "DaemonSet"})
      ASSERT_EQ(byKind[kind].size(), 1u) << kind;
    ds = byKind["DaemonSet"][0];
    pod = ds["spec"]["template"]["spec"];
    ASSERT_EQ(pod["containers"].size(), 1u);
    container = pod["containers"][0];
  }

  YAML::Node one(const char* kind) { return byKind[kind][0]; }
  std::vector<std::string> command() { return container["command"].as<std::vector<std::string>>(); }
  // The volume mounted at the deepest mount path that contains `path`.
  YAML::Node volumeFor(const std::string& path, std::string* mountPath = nullptr) {
    std::string best, name;
    for (const auto& m : container["volumeMounts"]) {
      std::string mp = m["mountPath"].as<std::string>();
      if ((path == mp || path.rfind(mp + "/", 0) == 0) && mp.size() > best.size()) {
        best = mp;
        name = m["name"].as<std::string>();
      }
    }
    if (mountPath) *mountPath = best;
    for (const auto& v : pod["volumes"])
      if (v["name"].as<std::string>() == name) return v;
    return YAML::Node();
  }

  std::map<std::string, std::vector<YAML::Node>> byKind;
  YAML::Node ds, pod, container;
};

TEST_F(DeployManifests, DaemonSetRunsOnEveryNodeInTheHostNetworkAsANodeCriticalPod) {
  EXPECT_TRUE(pod["hostNetwork"].as<bool>());
  EXPECT_EQ(pod["priorityClassName"].as<std::string>(), "system-node-critical");
  bool tolerateAll = false;
  for (const auto& t : pod["tolerations"]) tolerateAll |= t["operator"].as<std::string>() == "Exists" && !t["key"];
  EXPECT_TRUE(tolerateAll) << "needs a toleration for every taint";
  EXPECT_EQ(ds["spec"]["updateStrategy"]["type"].as<std::string>(), "RollingUpdate");
  EXPECT_EQ(ds["spec"]["selector"]["matchLabels"]["k8s-app"].as<std::string>(),
            ds["spec"]["template"]["metadata"]["labels"]["k8s-app"].as<std::string>());
  auto sc = container["securityContext"];
  bool privileged = sc["privileged"] && sc["privileged"].as<bool>();
  std::set<std::string> caps;
  if (sc["capabilities"] && sc["capabilities"]["add"])
    for (const auto& c : sc["capabilities"]["add"]) caps.insert(c.as<std::string>());
  EXPECT_TRUE(privileged || (caps.count("NET_ADMIN") && caps.count("NET_RAW")));
}

TEST_F(DeployManifests, HostPathsForTheXtablesLockAndModules) {
  auto lock = volumeFor("/run/xtables.lock");
  ASSERT_TRUE(lock) << "/run/xtables.lock not mounted";
  EXPECT_EQ(lock["hostPath"]["path"].as<std::string>(), "/run/xtables.lock");
  EXPECT_EQ(lock["hostPath"]["type"].as<std::string>(), "FileOrCreate");
  auto modules = volumeFor("/lib/modules");
  ASSERT_TRUE(modules) << "/lib/modules not mounted";
  EXPECT_EQ(modules["hostPath"]["path"].as<std::string>(), "/lib/modules");
}

TEST_F(DeployManifests, ServiceAccountIsBoundToARoleThatCanListAndWatchWhatKproxyReads) {
  auto sa = one("ServiceAccount");
  EXPECT_EQ(pod["serviceAccountName"].as<std::string>(), sa["metadata"]["name"].as<std::string>());
  EXPECT_EQ(sa["metadata"]["namespace"].as<std::string>(), ds["metadata"]["namespace"].as<std::string>());
  auto binding = one("ClusterRoleBinding");
  auto role = one("ClusterRole");
  EXPECT_EQ(binding["roleRef"]["name"].as<std::string>(), role["metadata"]["name"].as<std::string>());
  bool subject = false;
  for (const auto& s : binding["subjects"])
    subject |= s["kind"].as<std::string>() == "ServiceAccount" && s["name"].as<std::string>() == sa["metadata"]["name"].as<std::string>() &&
               s["namespace"].as<std::string>() == sa["metadata"]["namespace"].as<std::string>();
  EXPECT_TRUE(subject);
  auto allows = [&](const std::string& group, const std::string& resource, const std::string& verb) {
    for (const auto& r : role["rules"]) {
      auto in = [](const YAML::Node& list, const std::string& v) {
        for (const auto& x : list)
          if (x.as<std::string>() == v) return true;
        return false;
      };
      if (in(r["apiGroups"], group) && in(r["resources"], resource) && in(r["verbs"], verb)) return true;
    }
    return false;
  };
  for (const char* verb : {"list", "watch"}) {
    EXPECT_TRUE(allows("", "services", verb)) << verb;
    EXPECT_TRUE(allows("discovery.k8s.io", "endpointslices", verb)) << verb;
    EXPECT_TRUE(allows("", "nodes", verb)) << verb;
    EXPECT_TRUE(allows("", "endpoints", verb)) << verb << " (the fallback)";
    EXPECT_TRUE(allows("networking.k8s.io", "servicecidrs", verb)) << verb << " (nftables mode)";
  }
}

TEST_F(DeployManifests, CommandAndConfigMapAreAcceptedByKproxyAndAgreeWithTheProbe) {
  auto args = command();
  ASSERT_FALSE(args.empty());
  EXPECT_EQ(args[0], "/usr/local/bin/kproxy") << "the Dockerfile installs it there";
  auto cfgArg = std::find_if(args.begin(), args.end(), [](const std::string& a) { return a.rfind("--config=", 0) == 0; });
  ASSERT_NE(cfgArg, args.end());
  std::string cfgPath = cfgArg->substr(9);
  std::string mountPath;
  auto vol = volumeFor(cfgPath, &mountPath);
  ASSERT_TRUE(vol && vol["configMap"]) << cfgPath << " is not on a ConfigMap volume";
  auto cm = one("ConfigMap");
  EXPECT_EQ(vol["configMap"]["name"].as<std::string>(), cm["metadata"]["name"].as<std::string>());
  std::string key = cfgPath.substr(mountPath.size() + 1);
  ASSERT_TRUE(cm["data"][key]) << "ConfigMap has no key " << key;
  std::string configText = cm["data"][key].as<std::string>();

  // $(NODE_NAME) comes from the downward API.
  bool nodeName = false;
  for (const auto& e : container["env"])
    nodeName |= e["name"].as<std::string>() == "NODE_NAME" &&
                e["valueFrom"]["fieldRef"]["fieldPath"].as<std::string>() == "spec.nodeName";
  EXPECT_TRUE(nodeName);
  EXPECT_NE(std::find(args.begin(), args.end(), "--hostname-override=$(NODE_NAME)"), args.end());

  std::vector<std::string> flags(args.begin() + 1, args.end());
  auto parsed = parseDaemonFlags(flags, [&](const std::string& path) -> Result<std::string> {
    if (path != cfgPath) return Status::error("unexpected config path " + path);
    return configText;
  });
  ASSERT_TRUE(parsed) << parsed.error();
  const auto& cfg = parsed.value().config;
  EXPECT_EQ(cfg.kubeconfig, "") << "in-cluster service account";
  auto probe = container["livenessProbe"]["httpGet"];
  EXPECT_EQ(probe["path"].as<std::string>(), "/livez");
  int port = probe["port"].as<int>();
  EXPECT_EQ(cfg.healthzBindAddress.substr(cfg.healthzBindAddress.rfind(':') + 1), std::to_string(port));
  bool declared = false;
  for (const auto& p : container["ports"]) declared |= p["containerPort"].as<int>() == port;
  EXPECT_TRUE(declared);
}

// deploy/kproxy-hardened.yaml: a privileged init container runs --init-only, the proxy runs with
// NET_ADMIN and NET_RAW only, both reading the same config file.
TEST_F(DeployManifests, HardenedVariantInitsPrivilegedAndRunsWithNetAdminOnly) {
  auto docs = YAML::LoadAllFromFile(std::string(KPROXY_SOURCE_DIR) + "/deploy/kproxy-hardened.yaml");
  ASSERT_EQ(docs.size(), 1u);
  auto hardened = docs[0]["spec"]["template"]["spec"];
  ASSERT_EQ(hardened["initContainers"].size(), 1u);
  ASSERT_EQ(hardened["containers"].size(), 1u);
  auto init = hardened["initContainers"][0], main = hardened["containers"][0];
  EXPECT_TRUE(init["securityContext"]["privileged"].as<bool>());
  EXPECT_FALSE(main["securityContext"]["privileged"].as<bool>());
  auto caps = main["securityContext"]["capabilities"]["add"].as<std::vector<std::string>>();
  EXPECT_EQ(std::set<std::string>(caps.begin(), caps.end()), (std::set<std::string>{"NET_ADMIN", "NET_RAW"}));
  EXPECT_EQ(main["securityContext"]["capabilities"]["drop"][0].as<std::string>(), "ALL");
  const std::string configText = one("ConfigMap")["data"]["config.conf"].as<std::string>();
  auto read = [&](const std::string& path) -> Result<std::string> {
    if (path != "/var/lib/kproxy/config.conf") return Status::error("unexpected config path " + path);
    return configText;
  };
  auto initArgs = init["command"].as<std::vector<std::string>>();
  auto mainArgs = main["command"].as<std::vector<std::string>>();
  auto i = parseDaemonFlags({initArgs.begin() + 1, initArgs.end()}, read);
  auto m = parseDaemonFlags({mainArgs.begin() + 1, mainArgs.end()}, read);
  ASSERT_TRUE(i) << i.error();
  ASSERT_TRUE(m) << m.error();
  EXPECT_TRUE(i.value().initOnly);
  EXPECT_FALSE(m.value().initOnly);
  EXPECT_TRUE(i.value().warnings.empty()) << i.value().warnings.front();
  EXPECT_EQ(i.value().config.mode, m.value().config.mode);
  EXPECT_EQ(hardened["volumes"][0]["configMap"]["name"].as<std::string>(), one("ConfigMap")["metadata"]["name"].as<std::string>());
}

}  // namespace
}  // namespace kproxy::daemon
