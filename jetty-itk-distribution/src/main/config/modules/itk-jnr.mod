# jetty-itk @project.version@: see the jetty-itk README, section "The Jetty module".

[description]
Provides jnr-posix and jnr-ffi (with the native jffi library and ASM) to jetty-itk,
which resolves users and groups and checks its workers' privilege drop through them.
https://github.com/jnr/jnr-posix

[tags]
itk

[files]
maven://com.github.jnr/jnr-posix/${itk.jnr-posix.version}|lib/itk/jnr-posix-${itk.jnr-posix.version}.jar
maven://com.github.jnr/jnr-ffi/${itk.jnr-ffi.version}|lib/itk/jnr-ffi-${itk.jnr-ffi.version}.jar
maven://com.github.jnr/jffi/${itk.jffi.version}|lib/itk/jffi-${itk.jffi.version}.jar
maven://com.github.jnr/jffi/${itk.jffi.version}/jar/native|lib/itk/jffi-${itk.jffi.version}-native.jar
maven://com.github.jnr/jnr-constants/${itk.jnr-constants.version}|lib/itk/jnr-constants-${itk.jnr-constants.version}.jar
maven://com.github.jnr/jnr-a64asm/${itk.jnr-a64asm.version}|lib/itk/jnr-a64asm-${itk.jnr-a64asm.version}.jar
maven://com.github.jnr/jnr-x86asm/${itk.jnr-x86asm.version}|lib/itk/jnr-x86asm-${itk.jnr-x86asm.version}.jar
maven://org.ow2.asm/asm/${itk.asm.version}|lib/itk/asm-${itk.asm.version}.jar
maven://org.ow2.asm/asm-commons/${itk.asm.version}|lib/itk/asm-commons-${itk.asm.version}.jar
maven://org.ow2.asm/asm-analysis/${itk.asm.version}|lib/itk/asm-analysis-${itk.asm.version}.jar
maven://org.ow2.asm/asm-tree/${itk.asm.version}|lib/itk/asm-tree-${itk.asm.version}.jar
maven://org.ow2.asm/asm-util/${itk.asm.version}|lib/itk/asm-util-${itk.asm.version}.jar

[lib]
lib/itk/jnr-posix-${itk.jnr-posix.version}.jar
lib/itk/jnr-ffi-${itk.jnr-ffi.version}.jar
lib/itk/jffi-${itk.jffi.version}.jar
lib/itk/jffi-${itk.jffi.version}-native.jar
lib/itk/jnr-constants-${itk.jnr-constants.version}.jar
lib/itk/jnr-a64asm-${itk.jnr-a64asm.version}.jar
lib/itk/jnr-x86asm-${itk.jnr-x86asm.version}.jar
lib/itk/asm-${itk.asm.version}.jar
lib/itk/asm-commons-${itk.asm.version}.jar
lib/itk/asm-analysis-${itk.asm.version}.jar
lib/itk/asm-tree-${itk.asm.version}.jar
lib/itk/asm-util-${itk.asm.version}.jar

[ini]
itk.jnr-posix.version?=@itk.jnr-posix.version@
itk.jnr-ffi.version?=@itk.jnr-ffi.version@
itk.jffi.version?=@itk.jffi.version@
itk.jnr-constants.version?=@itk.jnr-constants.version@
itk.jnr-a64asm.version?=@itk.jnr-a64asm.version@
itk.jnr-x86asm.version?=@itk.jnr-x86asm.version@
itk.asm.version?=@itk.asm.version@

[license]
jnr-posix is licensed under the Eclipse Public License 2.0, the GPL 2
or the LGPL 2.1 (https://github.com/jnr/jnr-posix).
jnr-ffi, jnr-constants, jnr-a64asm and jnr-x86asm are licensed under
the Apache License 2.0 (https://github.com/jnr).
jffi is licensed under the Apache License 2.0 or the LGPL 3
(https://github.com/jnr/jffi); its native library is part of it.
ASM is licensed under the BSD 3-clause license (https://asm.ow2.io/license.html).

You can freely decide which of jnr-posix's and jffi's licenses you want to apply.
