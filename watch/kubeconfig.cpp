#include "watch/kubeconfig.h"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "watch/http_client.h"
#include "watch/yaml_json.h"

namespace kproxy::watch {

std::string acceptHeader(const std::string& contentType, const std::string& acceptContentTypes) {
  if (!acceptContentTypes.empty()) return acceptContentTypes;
  if (isProtobufContentType(contentType)) return std::string(kProtobufContentType) + ", application/json";
  return "application/json";
}

std::string ClientConfig::describe() const {
  std::string s = server;
  std::vector<std::string> auth;
  if (!token.empty()) auth.push_back("bearer token");
  if (!tokenFile.empty()) auth.push_back("token file " + tokenFile);
  if (!certData.empty() || !certFile.empty()) auth.push_back("client certificate");
  if (insecureSkipTLSVerify) auth.push_back("TLS verification OFF");
  else if (!caData.empty() || !caFile.empty()) auth.push_back("CA " + (caFile.empty() ? std::string("from kubeconfig data") : caFile));
  if (auth.empty()) return s + " (no credentials)";
  s += " (";
  for (size_t i = 0; i < auth.size(); ++i) s += (i ? ", " : "") + auth[i];
  return s + ")";
}

std::optional<std::string> base64Decode(const std::string& text) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  size_t pad = 0;
  for (char c : text) {
    if (c == '\n' || c == '\r' || c == ' ') continue;
    if (c == '=') {
      ++pad;
      continue;
    }
    if (pad) return std::nullopt;  // data after padding
    int v = value(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  if (pad > 2 || bits >= 6) return std::nullopt;
  return out;
}

namespace {

Result<std::string> readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::error("cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string absolute(const std::string& path, const std::string& baseDir) {
  if (path.empty() || path[0] == '/' || baseDir.empty()) return path;
  return (std::filesystem::path(baseDir) / path).string();
}

using nlohmann::json;

// n[key], or null when n is not a mapping or has no such key: a kubeconfig of any shape is
// read without exceptions.
const json& member(const json& n, const char* key) {
  static const json kNull;
  if (!n.is_object()) return kNull;
  auto it = n.find(key);
  return it == n.end() ? kNull : *it;
}

// The entry of a named list ("clusters", "users", "contexts") with name == `name`.
const json& findNamed(const json& root, const char* list, const std::string& name) {
  static const json kNull;
  const json& items = member(root, list);
  if (items.is_array())
    for (const auto& item : items)
      if (member(item, "name").is_string() && member(item, "name").get<std::string>() == name) return item;
  return kNull;
}

// A scalar as its text ("true" for a boolean), "" when absent or not a scalar.
std::string scalar(const json& n, const char* key) {
  const json& v = member(n, key);
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean() || v.is_number()) return v.dump();
  return "";
}

}  // namespace

Result<ClientConfig> parseKubeconfig(const std::string& text, const std::string& baseDir) {
  YamlDocuments docs = parseYaml(text);
  if (!docs.ok()) return Status::error(docs.error);
  if (docs.documents.empty() || !docs.documents[0].is_object())
    return Status::error("not a kubeconfig (expected a mapping)");
  const json& root = docs.documents[0];
  std::vector<std::string> problems;
  ClientConfig c;
  std::string contextName = scalar(root, "current-context");
  if (contextName.empty()) return Status::error("current-context: missing");
  const json& context = findNamed(root, "contexts", contextName);
  if (context.is_null()) return Status::error("contexts[" + contextName + "]: missing (named by current-context)");
  std::string clusterName = scalar(member(context, "context"), "cluster");
  std::string userName = scalar(member(context, "context"), "user");

  // *-data fields are base64 PEM; a wrong one is reported with its path, as kubectl would.
  auto data = [&](const json& n, const char* key, const std::string& where, std::string& into) {
    std::string v = scalar(n, key);
    if (v.empty()) return;
    auto decoded = base64Decode(v);
    if (!decoded) problems.push_back(where + "." + key + ": not valid base64");
    else into = *decoded;
  };

  const json& cluster = findNamed(root, "clusters", clusterName);
  if (cluster.is_null()) {
    problems.push_back("clusters[" + clusterName + "]: missing (named by context " + contextName + ")");
  } else {
    std::string where = "clusters[" + clusterName + "].cluster";
    const json& cl = member(cluster, "cluster");
    c.server = scalar(cl, "server");
    c.caFile = absolute(scalar(cl, "certificate-authority"), baseDir);
    data(cl, "certificate-authority-data", where, c.caData);
    c.insecureSkipTLSVerify = scalar(cl, "insecure-skip-tls-verify") == "true";
  }
  if (!userName.empty()) {
    const json& user = findNamed(root, "users", userName);
    if (user.is_null()) {
      problems.push_back("users[" + userName + "]: missing (named by context " + contextName + ")");
    } else {
      std::string where = "users[" + userName + "].user";
      const json& u = member(user, "user");
      c.certFile = absolute(scalar(u, "client-certificate"), baseDir);
      data(u, "client-certificate-data", where, c.certData);
      c.keyFile = absolute(scalar(u, "client-key"), baseDir);
      data(u, "client-key-data", where, c.keyData);
      c.token = scalar(u, "token");
      // Never echoed: the token may be most of the way to a valid one.
      if (!isHeaderSafe(c.token)) problems.push_back(where + ".token: holds control characters (CR, LF, ...)");
      c.tokenFile = absolute(scalar(u, "tokenFile"), baseDir);
      if (!member(u, "exec").is_null() || !member(u, "auth-provider").is_null())
        problems.push_back(where + ": exec and auth-provider credentials are not supported; use a token, tokenFile or "
                                   "client certificate");
      bool hasCert = !c.certFile.empty() || !scalar(u, "client-certificate-data").empty();
      bool hasKey = !c.keyFile.empty() || !scalar(u, "client-key-data").empty();
      if (hasCert != hasKey) problems.push_back(where + ": a client certificate needs its key and the other way round");
    }
  }
  if (!problems.empty()) {
    std::string msg;
    for (const auto& p : problems) msg += (msg.empty() ? "" : "; ") + p;
    return Status::error(msg);
  }
  return c;
}

Result<ClientConfig> loadKubeconfig(const std::string& path) {
  auto text = readFile(path);
  if (!text) return text.status();
  auto c = parseKubeconfig(text.value(), std::filesystem::path(path).parent_path().string());
  if (!c) return Status::error("kubeconfig " + path + ": " + c.error());
  return c;
}

Result<ClientConfig> inClusterConfig(const std::function<std::optional<std::string>(const char*)>& getenv,
                                     const std::string& saDir) {
  auto host = getenv("KUBERNETES_SERVICE_HOST");
  auto port = getenv("KUBERNETES_SERVICE_PORT");
  if (!host || !port || host->empty() || port->empty())
    return Status::error("not running in a cluster (KUBERNETES_SERVICE_HOST/PORT unset) and neither --kubeconfig nor "
                         "--master given");
  ClientConfig c;
  bool v6 = host->find(':') != std::string::npos;
  c.server = "https://" + (v6 ? "[" + *host + "]" : *host) + ":" + *port;
  c.tokenFile = saDir + "/token";
  c.caFile = saDir + "/ca.crt";
  if (!std::filesystem::exists(c.tokenFile)) return Status::error("in-cluster: " + c.tokenFile + " is missing");
  return c;
}

Result<ClientConfig> resolveClientConfig(const std::string& master, const std::string& kubeconfigPath,
                                         const std::function<std::optional<std::string>(const char*)>& getenv) {
  if (!kubeconfigPath.empty()) {
    auto c = loadKubeconfig(kubeconfigPath);
    if (!c) return c;
    if (!master.empty()) c.value().server = master;
    if (c.value().server.empty()) return Status::error("kubeconfig " + kubeconfigPath + ": the cluster has no server");
    return c;
  }
  if (!master.empty()) {
    ClientConfig c;
    c.server = master;
    return c;
  }
  return inClusterConfig(getenv);
}

}  // namespace kproxy::watch
