#pragma once
// The one recursive-descent parser behind the two text headers bagnet reads
// from untrusted files: the JSON of a safetensors header and the Python dict
// literal of an npy header. Both are small subsets of their languages, nearly
// the same one: objects (dicts) with string keys, arrays (lists), strings and
// integers, plus, in Python only, tuples, 'single-quoted' strings, trailing
// commas and True, False and None. Every problem is a bagnet::Error of one
// line that says where in the text it lies.
#include <bagnet/error.hpp>
#include <bagnet/io/validation.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace bagnet::io::detail::literal {

enum class Syntax {
    // The subset of JSON safetensors headers use: no floats, booleans or null,
    // since a header with them is not one this library wrote or can use.
    json,
    // The subset of Python literals npy headers use: no floats, and only the
    // escapes \\, \' and \" in strings, which never span lines.
    python,
};

struct Value {
    // `object` is a JSON object or a Python dict, `array` a JSON array or a Python list.
    enum class Kind { object, array, tuple, string, integer, boolean, null };
    Kind kind = Kind::null;
    std::int64_t integer = 0;
    bool boolean = false;
    std::string text;               // a string's characters (UTF-8, from JSON)
    std::vector<std::string> keys;  // an object's keys, in file order
    std::vector<Value> items;       // an array's or tuple's elements, or the values belonging to `keys`

    const Value* find(const std::string& key) const {
        const auto position = std::find(keys.begin(), keys.end(), key);
        return position == keys.end() ? nullptr : &items[static_cast<std::size_t>(position - keys.begin())];
    }
};

class Parser {
public:
    // `context` begins every error message, e.g. "model.safetensors: header is not valid JSON".
    Parser(Syntax syntax, const char* text, std::size_t size, std::string context)
        : python_(syntax == Syntax::python), text_(text), size_(size), context_(std::move(context)) {}

    Value parse_document() {
        Value document = parse_value(0);
        skip_whitespace();
        if (position_ != size_) fail("unexpected text after the end of the value");
        return document;
    }

private:
    // Deeply nested input would otherwise overflow the stack of this recursive
    // parser. (npy headers are flat; safetensors metadata may nest a little.)
    int max_depth() const { return python_ ? 32 : 64; }
    const char* object_name() const { return python_ ? "dict" : "object"; }

    Value parse_value(int depth) {
        if (depth > max_depth()) fail("nested deeper than " + std::to_string(max_depth()) + " levels");
        skip_whitespace();
        if (position_ == size_) fail("expected a value");
        const char next = text_[position_];
        if (next == '{') return parse_object(depth);
        if (next == '[') return parse_sequence(depth, Value::Kind::array, ']');
        if (next == '(' && python_) return parse_sequence(depth, Value::Kind::tuple, ')');
        Value value;
        if (is_quote(next)) {
            value.kind = Value::Kind::string;
            value.text = parse_string();
        } else if (next == '-' || is_digit(next)) {
            value.kind = Value::Kind::integer;
            value.integer = parse_integer();
        } else if (python_ && consume_word("True")) {
            value.kind = Value::Kind::boolean;
            value.boolean = true;
        } else if (python_ && consume_word("False")) {
            value.kind = Value::Kind::boolean;
        } else if (python_ && consume_word("None")) {
            value.kind = Value::Kind::null;
        } else {
            fail("unexpected character " + describe(next));
        }
        return value;
    }

    Value parse_object(int depth) {
        Value object;
        object.kind = Value::Kind::object;
        std::set<std::string> seen;
        ++position_;  // '{'
        skip_whitespace();
        if (consume('}')) return object;
        while (true) {
            skip_whitespace();
            if (position_ == size_ || !is_quote(text_[position_]))
                fail(std::string("expected a string as ") + object_name() + " key");
            std::string key = parse_string();
            if (!seen.insert(key).second) fail("duplicate key " + io::quoted(key));
            skip_whitespace();
            if (!consume(':')) fail("expected ':' after key " + io::quoted(key));
            object.items.push_back(parse_value(depth + 1));
            object.keys.push_back(std::move(key));
            skip_whitespace();
            if (consume('}')) return object;
            if (!consume(','))
                fail(std::string("expected ',' or '}' in ") + (python_ ? "a dict" : "an object"));
            // Python allows a trailing comma (numpy writes one); JSON does not.
            skip_whitespace();
            if (python_ && consume('}')) return object;
        }
    }

    // An array or tuple. In Python "(x)" without a trailing comma is just x in
    // parentheses, not a tuple.
    Value parse_sequence(int depth, Value::Kind kind, char closing) {
        Value sequence;
        sequence.kind = kind;
        ++position_;  // opening bracket
        bool saw_comma = false;
        skip_whitespace();
        if (consume(closing)) return sequence;
        while (true) {
            sequence.items.push_back(parse_value(depth + 1));
            skip_whitespace();
            if (consume(closing)) break;
            if (!consume(',')) {
                const char* name = kind == Value::Kind::tuple ? "a tuple" : python_ ? "a list" : "an array";
                fail(std::string("expected ',' or '") + closing + "' in " + name);
            }
            saw_comma = true;
            skip_whitespace();
            if (python_ && consume(closing)) break;
        }
        if (kind == Value::Kind::tuple && sequence.items.size() == 1 && !saw_comma)
            return sequence.items.front();
        return sequence;
    }

    std::string parse_string() {
        const char quote = text_[position_++];
        std::string text;
        while (true) {
            if (position_ == size_ || (python_ && text_[position_] == '\n')) fail("unterminated string");
            const char c = text_[position_++];
            if (c == quote) return text;
            if (c == '\\') {
                parse_escape(text);
            } else if (!python_ && static_cast<unsigned char>(c) < 0x20) {
                fail("control character inside a string");
            } else {
                text += c;
            }
        }
    }

    // Appends what the escape after a backslash stands for.
    void parse_escape(std::string& text) {
        if (position_ == size_) fail("unterminated string");
        const char escaped = text_[position_++];
        if (escaped == '\\' || escaped == '"' || escaped == (python_ ? '\'' : '/')) {
            text += escaped;
            return;
        }
        if (!python_) {
            switch (escaped) {
                case 'b':
                    text += '\b';
                    return;
                case 'f':
                    text += '\f';
                    return;
                case 'n':
                    text += '\n';
                    return;
                case 'r':
                    text += '\r';
                    return;
                case 't':
                    text += '\t';
                    return;
                case 'u':
                    append_utf8(text, parse_code_point());
                    return;
                default:
                    break;
            }
        }
        fail("invalid escape " + io::quoted(std::string{'\\', escaped}) + " in a string");
    }

    // The code point of a JSON \uXXXX escape (the "\u" already read), joining UTF-16 surrogate pairs.
    std::uint32_t parse_code_point() {
        const std::uint32_t unit = parse_hex4();
        if (unit >= 0xDC00 && unit <= 0xDFFF) fail("unpaired low surrogate in a \\u escape");
        if (unit < 0xD800 || unit > 0xDBFF) return unit;
        if (!(consume('\\') && consume('u'))) fail("unpaired high surrogate in a \\u escape");
        const std::uint32_t low = parse_hex4();
        if (low < 0xDC00 || low > 0xDFFF) fail("unpaired high surrogate in a \\u escape");
        return 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
    }

    std::uint32_t parse_hex4() {
        std::uint32_t value = 0;
        for (int i = 0; i < 4; ++i) {
            if (position_ == size_) fail("unterminated \\u escape");
            const char c = text_[position_++];
            std::uint32_t digit = 0;
            if (is_digit(c))
                digit = static_cast<std::uint32_t>(c - '0');
            else if (c >= 'a' && c <= 'f')
                digit = static_cast<std::uint32_t>(c - 'a' + 10);
            else if (c >= 'A' && c <= 'F')
                digit = static_cast<std::uint32_t>(c - 'A' + 10);
            else
                fail("invalid hex digit " + describe(c) + " in a \\u escape");
            value = value * 16 + digit;
        }
        return value;
    }

    static void append_utf8(std::string& text, std::uint32_t code_point) {
        auto byte = [](std::uint32_t bits) { return static_cast<char>(bits); };
        if (code_point < 0x80) {
            text += byte(code_point);
        } else if (code_point < 0x800) {
            text += byte(0xC0 | (code_point >> 6));
            text += byte(0x80 | (code_point & 0x3F));
        } else if (code_point < 0x10000) {
            text += byte(0xE0 | (code_point >> 12));
            text += byte(0x80 | ((code_point >> 6) & 0x3F));
            text += byte(0x80 | (code_point & 0x3F));
        } else {
            text += byte(0xF0 | (code_point >> 18));
            text += byte(0x80 | ((code_point >> 12) & 0x3F));
            text += byte(0x80 | ((code_point >> 6) & 0x3F));
            text += byte(0x80 | (code_point & 0x3F));
        }
    }

    // Leading zeros and fractions are errors in both syntaxes (Python 3 too
    // rejects "01"), not a silent misreading.
    std::int64_t parse_integer() {
        const bool negative = consume('-');
        if (position_ == size_ || !is_digit(text_[position_])) fail("expected a digit");
        if (text_[position_] == '0' && position_ + 1 < size_ && is_digit(text_[position_ + 1])) {
            fail("number with a leading zero");
        }
        // The magnitude may reach 2^63 only when negative (INT64_MIN).
        const std::uint64_t limit = static_cast<std::uint64_t>(INT64_MAX) + (negative ? 1 : 0);
        std::uint64_t magnitude = 0;
        while (position_ < size_ && is_digit(text_[position_])) {
            const auto digit = static_cast<std::uint64_t>(text_[position_++] - '0');
            if (magnitude > (limit - digit) / 10) fail("integer out of the 64-bit range");
            magnitude = magnitude * 10 + digit;
        }
        if (position_ < size_ &&
            (text_[position_] == '.' || text_[position_] == 'e' || text_[position_] == 'E')) {
            fail("a number that is not an integer");
        }
        if (!negative) return static_cast<std::int64_t>(magnitude);
        return magnitude == 0 ? 0 : -static_cast<std::int64_t>(magnitude - 1) - 1;
    }

    bool consume_word(const char* word) {
        const std::size_t length = std::strlen(word);
        if (size_ - position_ < length || std::memcmp(text_ + position_, word, length) != 0) return false;
        position_ += length;
        return true;
    }

    void skip_whitespace() {
        while (position_ < size_ && (text_[position_] == ' ' || text_[position_] == '\t' ||
                                     text_[position_] == '\n' || text_[position_] == '\r')) {
            ++position_;
        }
    }

    bool consume(char expected) {
        if (position_ == size_ || text_[position_] != expected) return false;
        ++position_;
        return true;
    }

    bool is_quote(char c) const { return c == '"' || (python_ && c == '\''); }
    static bool is_digit(char c) { return c >= '0' && c <= '9'; }
    // A character from the input, quoted so that a newline cannot split the message.
    static std::string describe(char c) { return io::quoted(std::string(1, c)); }

    [[noreturn]] void fail(const std::string& problem) const {
        const std::string where =
            position_ == size_ ? "at its end (byte " + std::to_string(size_) + ")"
                               : "at byte " + std::to_string(position_) + " of " + std::to_string(size_);
        throw Error(context_ + ": " + problem + " " + where);
    }

    bool python_;
    const char* text_;
    std::size_t size_;
    std::string context_;
    std::size_t position_ = 0;
};

// Parses all of `text` as one value; `context` begins every error message.
inline Value parse(Syntax syntax, const char* text, std::size_t size, std::string context) {
    return Parser(syntax, text, size, std::move(context)).parse_document();
}

}  // namespace bagnet::io::detail::literal
