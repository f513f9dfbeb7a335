#pragma once
// JSON for reports, listings and metrics files, built as values with nlohmann-json (Debian
// nlohmann-json3-dev) rather than as text: members keep the order the code adds them in
// (ordered_json). JSON has no NaN or infinity, and nlohmann-json writes them as null. Bytes that
// are not UTF-8 (a file's name, say) are written as U+FFFD instead of failing half way through
// a document.
#include <string>

#include <nlohmann/json.hpp>

namespace bagnet::io {

using Json = nlohmann::ordered_json;

// A document as the files hold it: two-space indentation and a final newline.
inline std::string json_text(const Json& value) {
    return value.dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
}

// On one line without spaces (the safetensors header).
inline std::string json_line(const Json& value) { return value.dump(-1, ' ', false, Json::error_handler_t::replace); }

}  // namespace bagnet::io
