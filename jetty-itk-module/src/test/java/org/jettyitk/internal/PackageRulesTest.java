package org.jettyitk.internal;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import org.jettyitk.internal.launch.WorkerClassArchive;
import org.jettyitk.internal.wire.WorkerArguments;
import org.jettyitk.internal.worker.WorkerMain;
import org.jettyitk.internal.worker.WorkerTraining;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * <p>Who may use whom, read from the {@code import} lines of the main sources: front and worker share only the wire
 * contract ({@code internal.wire}), the pipe and the POSIX layer; the spawner shares launching
 * ({@code internal.launch}) with the front and never sees either side's code.</p>
 * <pre>
 *   front (and the public ItkHandler, VirtualHost)  ─▶ spawner, launch, wire, pipe, posix
 *   spawner                                          ─▶ launch, wire, posix
 *   worker                                           ─▶ wire, pipe, posix, PipeConnector
 *   launch ─▶ wire, posix        pipe ─▶ wire        wire ─▶ posix
 * </pre>
 */
public class PackageRulesTest
{
    private static final Path SOURCES = Path.of("src/main/java");
    private static final String ROOT = "org.jettyitk";
    private static final Pattern IMPORT = Pattern.compile("^import (?:static )?(org\\.jettyitk\\.[\\w.]+);", Pattern.MULTILINE);
    /** What each package may import of the project, besides itself; the public package is "public". */
    private static final Map<String, Set<String>> ALLOWED = Map.of(
        "posix", Set.of(),
        "wire", Set.of("posix"),
        "pipe", Set.of("wire"),
        "launch", Set.of("wire", "posix"),
        "worker", Set.of("wire", "pipe", "posix", "org.jettyitk.PipeConnector"),
        "spawner", Set.of("launch", "wire", "posix"),
        "front", Set.of("public", "launch", "spawner", "wire", "pipe", "posix"),
        "public", Set.of("front", "launch", "wire", "pipe", "posix"));

    @Test
    public void testEveryPackageImportsOnlyWhatItMay() throws IOException
    {
        Map<String, List<String>> violations = new TreeMap<>();
        int files = 0;
        try (Stream<Path> sources = Files.walk(SOURCES))
        {
            for (Path source : sources.filter(p -> p.toString().endsWith(".java")).toList())
            {
                files++;
                String from = packageOf(SOURCES.relativize(source.getParent()).toString().replace('/', '.'));
                Set<String> allowed = ALLOWED.get(from);
                assertTrue(allowed != null, "no rule for the package of " + source);
                Matcher imports = IMPORT.matcher(Files.readString(source));
                while (imports.find())
                {
                    String imported = typeOf(imports.group(1));
                    String to = packageOf(imported.substring(0, imported.lastIndexOf('.')));
                    if (!to.equals(from) && !allowed.contains(to) && !allowed.contains(imported))
                        violations.computeIfAbsent(from + " -> " + to, k -> new ArrayList<>()).add(SOURCES.relativize(source) + ": " + imported);
                }
            }
        }
        // Guards against a wrong working directory, in which the test would find nothing to check.
        assertTrue(files > 50, "main sources found in " + SOURCES.toAbsolutePath() + ": " + files);
        assertEquals(Map.of(), violations);
    }

    @Test
    public void testLaunchingNamesTheWorkersMainClasses()
    {
        assertEquals(WorkerMain.class.getName(), WorkerArguments.MAIN_CLASS);
        assertEquals(WorkerTraining.class.getName(), WorkerClassArchive.TRAINING_CLASS);
    }

    /**
     * @return the class a (static) import names: up to its first capitalized name
     */
    private static String typeOf(String imported)
    {
        String[] names = imported.split("\\.");
        StringBuilder type = new StringBuilder(names[0]);
        for (int i = 1; i < names.length; i++)
        {
            type.append('.').append(names[i]);
            if (Character.isUpperCase(names[i].charAt(0)))
                break;
        }
        return type.toString();
    }

    /**
     * @return the part of {@code name} after {@code org.jettyitk.internal.} up to its next dot, or "public" for
     * {@code org.jettyitk} itself
     */
    private static String packageOf(String name)
    {
        if (name.equals(ROOT))
            return "public";
        String internal = ROOT + ".internal.";
        if (!name.startsWith(internal))
            throw new IllegalArgumentException("not a package of the project: " + name);
        String rest = name.substring(internal.length());
        int dot = rest.indexOf('.');
        return dot < 0 ? rest : rest.substring(0, dot);
    }
}
