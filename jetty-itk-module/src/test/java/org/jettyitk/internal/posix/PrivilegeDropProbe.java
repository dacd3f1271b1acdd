package org.jettyitk.internal.posix;

import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.TreeSet;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * <p>The child JVM of {@link PrivilegeDropTest}: it starts as root, drops to the identity of its
 * arguments as a worker does, then reports on stdout, one {@code key=value} line each, what it
 * became and what it can still do. It exits with the status a worker would exit with.</p>
 * <pre>
 * PrivilegeDropProbe MODE UID GID GROUP,GROUP,... TENANT_DIR ROOT_ONLY_FILE
 *   drop      drop, verify, report
 *   mismatch  drop, then verify against uid + 1
 *   redrop    drop, then drop again to uid + 1
 * </pre>
 */
public final class PrivilegeDropProbe
{
    static final int NICE = 5;
    static final int UMASK = 027;

    private PrivilegeDropProbe()
    {
    }

    public static void main(String[] args)
    {
        try
        {
            probe(args);
            System.exit(0);
        }
        catch (PrivilegeException x)
        {
            report("error", x.getMessage());
            System.exit(x.exitStatus());
        }
        catch (Throwable x)
        {
            x.printStackTrace();
            System.exit(1);
        }
    }

    private static void probe(String[] args) throws Exception
    {
        String mode = args[0];
        int uid = Integer.parseInt(args[1]);
        int gid = Integer.parseInt(args[2]);
        int[] groups = Arrays.stream(args[3].split(",")).mapToInt(Integer::parseInt).toArray();
        Identity target = new Identity(args[1], uid, gid, groups);
        Identity other = new Identity(Integer.toString(uid + 1), uid + 1, gid + 1, new int[0]);

        Posix posix = Posix.get();
        // Per-process set-up happens before the drop, as in a worker.
        posix.setpriority(NICE);
        posix.umask(UMASK);
        PrivilegeDrop.dropTo(posix, target);
        switch (mode)
        {
            case "drop" -> reportDrop(posix, target, Path.of(args[4]), Path.of(args[5]));
            case "mismatch" -> PrivilegeDrop.verify(posix, other);
            case "redrop" -> PrivilegeDrop.dropTo(posix, other);
            default -> throw new IllegalArgumentException("unknown mode " + mode);
        }
    }

    private static void reportDrop(Posix posix, Identity target, Path tenantDir, Path rootOnlyFile) throws Exception
    {
        PrivilegeDrop.verify(posix, target);
        for (String line : PrivilegeDrop.describeSelf().split("\n"))
        {
            int colon = line.indexOf(':');
            report("self." + line.substring(0, colon), line.substring(colon + 1).strip());
        }
        PrivilegeDrop.dropTo(posix, target);
        report("again", "ok");
        report("nice", niceValues());
        report("create", Files.createFile(tenantDir.resolve("created")).toString());
        report("read", read(rootOnlyFile));
        report("regain", regain(posix));
    }

    /**
     * @return the distinct nice values of all threads, from field 19 of {@code /proc/self/task/*\/stat}
     */
    private static String niceValues() throws IOException
    {
        TreeSet<String> values = new TreeSet<>();
        try (Stream<Path> tasks = Files.list(Path.of("/proc/self/task")))
        {
            for (Path task : tasks.collect(Collectors.toList()))
            {
                String stat = Files.readString(task.resolve("stat"));
                // The command name may contain spaces: fields are counted after its closing parenthesis, from field 3.
                List<String> fields = Arrays.asList(stat.substring(stat.lastIndexOf(')') + 2).split(" "));
                values.add(fields.get(19 - 3));
            }
        }
        return String.join(",", values);
    }

    private static String read(Path file) throws IOException
    {
        try
        {
            Files.readAllBytes(file);
            return "allowed";
        }
        catch (AccessDeniedException x)
        {
            return "denied";
        }
    }

    private static String regain(Posix posix)
    {
        try
        {
            posix.setresuid(0, 0, 0);
            return "succeeded";
        }
        catch (IOException x)
        {
            return x.getMessage();
        }
    }

    private static void report(String key, String value)
    {
        System.out.println(key + "=" + value);
    }
}
