#include "testing/test_certificates.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace gengate::testing {

absl::Status MakeTestCertificates(const std::string& dir) {
  // Written to a file and run with sh, so that no outer shell expands its variables.
  const std::string script = absl::StrCat(
      "set -e\n", "mkdir -p '", dir, "'\n", "cd '", dir, "'\n",
      "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > server.ext\n",
      "printf 'extendedKeyUsage=clientAuth\\n' > client.ext\n",
      "for ca in ca other_ca; do\n",
      "  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \\\n",
      "    -keyout $ca.key -out $ca.pem -days 2 -subj /CN=$ca\n",
      "done\n",
      "sign() {\n",
      "  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \\\n",
      "    -keyout $1.key -out $1.csr -subj /CN=$1\n",
      "  openssl x509 -req -in $1.csr -CA $2.pem -CAkey $2.key -CAcreateserial \\\n",
      "    -out $1.pem -days 2 -extfile $3\n",
      "}\n",
      "sign server ca server.ext\n", "sign client ca client.ext\n",
      "sign stranger other_ca client.ext\n", "printf 'not a key\\n' > garbage.pem\n");
  const std::string script_path = dir + ".sh";
  const std::string log_path = dir + ".log";
  std::ofstream(script_path, std::ios::trunc) << script;
  const std::string command = absl::StrCat("sh '", script_path, "' >'", log_path, "' 2>&1");
  if (std::system(command.c_str()) == 0) return absl::OkStatus();
  std::ostringstream log;
  log << std::ifstream(log_path).rdbuf();
  return absl::InternalError(
      absl::StrCat("openssl could not make the test certificates in ", dir, ":\n", log.str()));
}

}  // namespace gengate::testing
