// Where the API server is and how to authenticate to it: from --kubeconfig (current context),
// from the in-cluster service account, and --master, resolved as kube-proxy does.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "dataplane/status.h"

namespace kproxy::watch {

struct ClientConfig {
  std::string server;  // "https://10.0.0.1:6443"
  // PEM text (from *-data fields, base64-decoded) takes precedence over files.
  std::string caFile, caData;
  std::string certFile, certData;
  std::string keyFile, keyData;
  std::string token;      // static bearer token
  std::string tokenFile;  // re-read on every request (service-account tokens rotate)
  bool insecureSkipTLSVerify = false;
  // The Accept header of lists, watches and discovery (clientConnection.contentType and
  // acceptContentTypes decide it; see acceptHeader()).
  std::string accept = "application/json";

  // For logs: server and which credentials are used, never their contents.
  std::string describe() const;
};

// The parts of a kubeconfig kproxy uses: current-context -> cluster (server,
// certificate-authority[-data], insecure-skip-tls-verify) and user (client-certificate[-data],
// client-key[-data], token, tokenFile). Relative paths are relative to the kubeconfig's folder.
// Errors name the field: "users[admin].client-key-data: not valid base64".
Result<ClientConfig> parseKubeconfig(const std::string& yamlText, const std::string& baseDir);
Result<ClientConfig> loadKubeconfig(const std::string& path);

// KUBERNETES_SERVICE_HOST/PORT and the service account's token and ca.crt under `saDir`.
inline constexpr const char* kServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount";
Result<ClientConfig> inClusterConfig(const std::function<std::optional<std::string>(const char*)>& getenv,
                                     const std::string& saDir = kServiceAccountDir);

// clientcmd.BuildConfigFromFlags: a kubeconfig if given (--master overrides its server), else
// --master alone (no credentials), else in-cluster.
Result<ClientConfig> resolveClientConfig(const std::string& master, const std::string& kubeconfigPath,
                                         const std::function<std::optional<std::string>(const char*)>& getenv);

// client-go's choice: acceptContentTypes when given, else the content type, protobuf with JSON
// after it so that a server without protobuf still answers.
std::string acceptHeader(const std::string& contentType, const std::string& acceptContentTypes);

// Standard base64 (padding optional); nullopt when invalid.
std::optional<std::string> base64Decode(const std::string& text);

}  // namespace kproxy::watch
