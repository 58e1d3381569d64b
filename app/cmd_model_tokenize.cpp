// `tessera model tokenize DIR_OR_FILE [--decode] [--no-special] [--chat] TEXT_OR_IDS...`
// Prints one JSON object: encoding gives {"tokenizer", "ids", "tokens", "count"}; --decode takes
// ids ("1,2,3", "[1, 2, 3]" or separate arguments) and gives {"tokenizer", "text"}.
// --chat formats TEXT as one user turn with the model's chat template first.
#include <cstdio>
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "app/cli_args.hpp"
#include "app/commands.hpp"
#include "model/tokenizer/chat_template.hpp"
#include "model/tokenizer/tokenizer.hpp"

namespace tessera::app {
namespace {

const char* usage =
    "usage: tessera model tokenize DIR_OR_FILE [--decode] [--no-special] [--chat] TEXT_OR_IDS...\n"
    "  DIR_OR_FILE   a model directory (tokenizer.json or tokenizer.model) or the tokenizer file\n"
    "  --decode      the rest are token ids (\"1,2,3\", \"[1, 2, 3]\" or separate arguments)\n"
    "  --no-special  encode without BOS/EOS; decode keeps special tokens' text\n"
    "  --chat        encode TEXT as one user message in the model's chat template\n";

std::vector<model::token_id> parse_ids(const std::string& text) {
  std::vector<model::token_id> ids;
  std::string cleaned = text;
  for (char& c : cleaned)
    if (c == ',' || c == '[' || c == ']') c = ' ';
  std::istringstream in(cleaned);
  std::string word;
  while (in >> word) {
    try {
      std::size_t used = 0;
      const long long v = std::stoll(word, &used);
      if (used != word.size() || v < 0) throw std::invalid_argument("bad");
      ids.push_back(v);
    } catch (const std::exception&) {
      throw usage_error("--decode expects token ids, got '" + word + "'");
    }
  }
  return ids;
}

}  // namespace

int run_model_tokenize(const arg_list& args) {
  for (const auto& a : args)
    if (a == "--help" || a == "-h") {
      std::fputs(usage, stdout);
      return 0;
    }
  cli_args cli(args, {}, {"--decode", "--no-special", "--chat"});
  const auto& pos = cli.positionals();
  if (pos.size() < 2) throw usage_error(std::string("expected DIR_OR_FILE and TEXT_OR_IDS\n") + usage);
  std::string input;
  for (std::size_t i = 1; i < pos.size(); ++i) input += (i > 1 ? " " : "") + pos[i];

  const auto tok = model::load_tokenizer(pos[0]);
  const bool special = !cli.has("--no-special");
  nlohmann::json out;
  out["tokenizer"] = tok->kind();
  if (cli.has("--decode")) {
    if (cli.has("--chat")) throw usage_error("--chat applies to encoding, not --decode");
    const auto ids = parse_ids(input);
    for (auto id : ids)
      if (static_cast<std::size_t>(id) >= tok->vocab_size())
        throw usage_error("token id " + std::to_string(id) + " is out of range (vocab_size " + std::to_string(tok->vocab_size()) + ")");
    out["text"] = tok->decode(ids, /*skip_special_tokens=*/special);
  } else {
    const auto ids = cli.has("--chat") ? model::encode_chat(*tok, {{"user", input}}) : tok->encode(input, special);
    std::vector<std::string> tokens;
    tokens.reserve(ids.size());
    for (auto id : ids) tokens.push_back(tok->id_to_token(id));
    out["ids"] = ids;
    out["tokens"] = tokens;
    out["count"] = ids.size();
    if (cli.has("--chat")) out["chat_format"] = model::to_string(tok->chat());
  }
  std::cout << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  return 0;
}

}  // namespace tessera::app
