# cmake -DIN=FILE -DOUT=FILE.c -DNAME=symbol -P EmbedFile.cmake: FILE's bytes as a C array
# (`const unsigned char NAME[]`, `const size_t NAME_len`), so a binary carries its web page.
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" n)
math(EXPR bytes "${n} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," body "${hex}")
string(REGEX REPLACE "((0x..,){16})" "\\1\n" body "${body}")
file(WRITE "${OUT}" "/* Generated from ${IN} by cmake/EmbedFile.cmake. */\n#include <stddef.h>\n"
     "const unsigned char ${NAME}[] = {\n${body}0x00};\nconst size_t ${NAME}_len = ${bytes};\n")
