# Writes OUT, a C file holding each of FILES (model YAMLs) as a string:
#   const struct builtin_model builtin_models[] = {{"yolov8.yaml", "..."}, ...};
string(REPLACE "^" ";" FILES "${FILES}") # passed with ^ as the separator
set(body "/* Generated from the models/ folder by scripts/embed_models.cmake. */\n#include \"nn/builtin.h\"\n\nconst builtin_model builtin_models[] = {\n")
foreach(f ${FILES})
  get_filename_component(name ${f} NAME)
  file(READ ${f} hex HEX)
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "\\\\x\\1" esc "${hex}")
  string(APPEND body "    {\"${name}\", \"${esc}\"},\n")
endforeach()
string(APPEND body "    {0, 0}};\n")
file(WRITE ${OUT} "${body}")
