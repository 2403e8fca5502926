// Throwaway TLS material for tests, made with the openssl CLI (ECDSA P-256, valid 2 days).
#pragma once

#include <string>

#include "absl/status/status.h"

namespace gengate::testing {

// Creates `dir` and writes into it, each as NAME.pem with its key NAME.key:
// - ca, other_ca: two self-signed CAs;
// - server: signed by ca, subjectAltName DNS:localhost and IP:127.0.0.1;
// - client: a clientAuth certificate signed by ca;
// - stranger: a clientAuth certificate signed by other_ca (one a server must refuse);
// and garbage.pem, which holds no PEM block. The error quotes openssl's output.
absl::Status MakeTestCertificates(const std::string& dir);

}  // namespace gengate::testing
