# Turns a text file into a C header holding it as one string literal:
#   static const char <SYM>[] = "...";
file(READ ${IN} body)
string(REPLACE "\\" "\\\\" body "${body}")
string(REPLACE "\"" "\\\"" body "${body}")
string(REPLACE "\n" "\\n\"\n\"" body "${body}")
file(WRITE ${OUT} "/* generated from ${IN}; do not edit */\n#pragma once\nstatic const char ${SYM}[] =\n\"${body}\";\n")
