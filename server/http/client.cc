#include "http/client.h"

namespace gengate::http {

std::string_view ResponseHead::Find(std::string_view lower_name) const {
  for (const Header& header : headers) {
    if (header.name == lower_name) return header.value;
  }
  return {};
}

}  // namespace gengate::http
