# Builds native/tap.cc and native/packet.cc into build/Release/wirelab_tap.node (loaded by
# src/link/tap-native.ts through node-gyp-build). Built by `npm ci` through the
# root package's "install" script.
{
  "targets": [
    {
      "target_name": "wirelab_tap",
      "sources": ["native/tap.cc", "native/packet.cc"],
      "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api"],
      "defines": ["NAPI_VERSION=8"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra"],
      "conditions": [
        ["OS!='linux'", {"type": "none"}]
      ]
    }
  ]
}
