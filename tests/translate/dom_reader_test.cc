#include "translate/dom_reader.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gengate::translate::dom {
namespace {

TEST(DomReaderTest, MissingNullAndWrongTypesAreAbsent) {
  const Document document(R"({"s":"text","n":null,"i":7,"a":[1],"o":{"k":1}})");
  ASSERT_TRUE(document.ok());
  const Element root = document.root();
  EXPECT_EQ(StringMember(root, "s"), "text");
  EXPECT_FALSE(StringMember(root, "n").has_value());
  EXPECT_FALSE(StringMember(root, "missing").has_value());
  EXPECT_FALSE(StringMember(root, "i").has_value());
  EXPECT_FALSE(Member(root, "n").has_value());
  EXPECT_TRUE(Member(root, "i").has_value());
  EXPECT_TRUE(ArrayMember(root, "a").has_value());
  EXPECT_FALSE(ArrayMember(root, "o").has_value());
  EXPECT_TRUE(ObjectMember(root, "o").has_value());
  EXPECT_FALSE(ObjectMember(root, "a").has_value());
  // A member of something that is no object is absent too.
  EXPECT_FALSE(Member(*Member(root, "s"), "s").has_value());
}

TEST(DomReaderTest, IntegersFromEveryNumberShape) {
  const Document document(
      R"({"int":-5,"big":18446744073709551615,"float":12.0,"huge":1e300,"text":"3"})");
  ASSERT_TRUE(document.ok());
  const Element root = document.root();
  EXPECT_EQ(IntegerMember(root, "int"), -5);
  EXPECT_EQ(IntegerMember(root, "big"), INT64_MAX);  // unsigned past int64: clamped
  EXPECT_EQ(IntegerMember(root, "float"), 12);
  EXPECT_GT(*IntegerMember(root, "huge"), 9'000'000'000'000'000'000);
  EXPECT_FALSE(IntegerMember(root, "text").has_value());
  EXPECT_EQ(DoubleMember(root, "int"), -5.0);
  EXPECT_EQ(DoubleMember(root, "text"), 0.0);
}

TEST(DomReaderTest, IntegersPastSixtyFourBitsAreNumbers) {
  // simdjson alone refuses the whole document over one of these; JSON allows them.
  const Document document(R"({"c":123456789012345678901234567890,"d":-99999999999999999999,)"
                          R"("s":"12345678901234567890123","f":1.12345678901234567890123,)"
                          R"("e":1e-12345678901234567890,"id":"x"})");
  ASSERT_TRUE(document.ok());
  const Element root = document.root();
  EXPECT_EQ(IntegerMember(root, "c"), 9'200'000'000'000'000'000);  // clamped, like a float
  EXPECT_EQ(IntegerMember(root, "d"), -9'200'000'000'000'000'000);
  EXPECT_EQ(StringMember(root, "s"), "12345678901234567890123");  // strings stay as they are
  EXPECT_DOUBLE_EQ(DoubleMember(root, "f"), 1.12345678901234567890123);
  EXPECT_EQ(DoubleMember(root, "e"), 0.0);
  EXPECT_EQ(StringMember(root, "id"), "x");
}

TEST(DomReaderTest, BytesSkipNonNumbers) {
  const Document document(R"({"bytes":[104,105,"x",null,256,33]})");
  ASSERT_TRUE(document.ok());
  EXPECT_EQ(BytesMember(document.root(), "bytes"), std::string("hi\0!", 4));
  EXPECT_FALSE(BytesMember(document.root(), "none").has_value());
}

TEST(DomReaderTest, TextOrJsonKeepsTheUpstreamOrder) {
  const Document document(R"({"s":"a\"b","o":{"z":1, "a":[true,null]}})");
  ASSERT_TRUE(document.ok());
  EXPECT_EQ(TextOrJson(*Member(document.root(), "s")), "a\"b");
  EXPECT_EQ(TextOrJson(*Member(document.root(), "o")), R"({"z":1,"a":[true,null]})");
}

TEST(DomReaderTest, InvalidDocumentsAreNotOk) {
  for (const char* text : {"", "{", R"({"a":1)", "<html>", R"({"a":"\xff"})", "[1,]"}) {
    EXPECT_FALSE(Document(text).ok()) << text;
  }
}

TEST(DomReaderTest, LargeDocumentsAndTheThreadParserAfterThem) {
  // Past the thread parser's size: parsed by a parser of its own.
  const std::string large = R"({"content":")" + std::string(1 << 20, 'x') + R"("})";
  {
    const Document document(large);
    ASSERT_TRUE(document.ok());
    EXPECT_EQ(StringMember(document.root(), "content")->size(), 1u << 20);
  }
  // The thread's parser still serves the small ones afterwards.
  const Document small(R"({"content":"y"})");
  ASSERT_TRUE(small.ok());
  EXPECT_EQ(StringMember(small.root(), "content"), "y");
}

}  // namespace
}  // namespace gengate::translate::dom
