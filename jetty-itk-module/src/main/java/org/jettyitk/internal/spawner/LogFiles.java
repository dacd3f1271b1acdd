package org.jettyitk.internal.spawner;

import java.io.IOException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import jnr.posix.FileStat;
import org.jettyitk.internal.posix.Posix;
import org.jettyitk.internal.posix.TrustedFiles;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * <p>The tenant logs the spawner opens, and rotates, for a front that no longer is root: the front names a log file,
 * the spawner opens it for appending and hands the descriptor over. What a compromised front can do with this is
 * bounded by three rules:</p>
 * <ul>
 *   <li><b>Directories are fixed while the front is root.</b> A log may only be directly in a directory
 *   {@link #allow(String) allowed} by a request the kernel says came from the front's pid <em>as root</em>, that
 *   is before its drop: the configured {@code logDirectories} and the directories of the logs of the vhosts
 *   loaded at start. Each is checked as {@link TrustedFiles} checks (root-owned, writable by root only, on every
 *   directory of its path), created there if missing, and held open: later requests act through that descriptor,
 *   never through the path again. After its drop, the front can add no directory.</li>
 *   <li><b>Only what looks like a tenant log is touched.</b> The file's name is letters, digits, {@code .},
 *   {@code _} and {@code -}, not starting with {@code .}. A new file is created ({@code O_EXCL}) mode
 *   {@value #MODE_TEXT}, owned by root and the tenant's group. An existing file (and an existing {@code NAME.1},
 *   which a rotation replaces) must be a regular file, with one link, owned by root, whose group is a tenant's
 *   (in {@code minId..maxId}, not the front's): a system file that happens to be in an allowed directory
 *   ({@code /var/log/auth.log} is group {@code adm}) is refused, never opened for writing nor renamed.</li>
 *   <li><b>No link is followed</b>: every open is {@code O_NOFOLLOW}, relative to the held directory.</li>
 * </ul>
 * <p>Not thread-safe: the spawner serves one request at a time.</p>
 */
final class LogFiles implements AutoCloseable
{
    private static final Logger LOG = LoggerFactory.getLogger(LogFiles.class);
    /** The mode of a tenant log: its tenant's group may read it, other tenants may not. */
    public static final int MODE = 0640;
    private static final String MODE_TEXT = "0640";
    /** The most log directories the front may allow. */
    public static final int MAX_DIRECTORIES = 256;
    /** The longest log file name, with room for the rotation's {@code .1} within {@code NAME_MAX}. */
    public static final int MAX_NAME_LENGTH = 253;
    private static final String ROTATED_SUFFIX = ".1";

    private final Posix posix;
    private final int minId;
    private final int maxId;
    private final int frontGid;
    /** The held descriptor of each allowed directory, by its path as the front named it. */
    private final Map<String, Integer> directories = new TreeMap<>();

    LogFiles(Posix posix, int minId, int maxId, int frontGid)
    {
        this.posix = posix;
        this.minId = minId;
        this.maxId = maxId;
        this.frontGid = frontGid;
    }

    /**
     * Allows tenant logs directly in {@code directory}: checked, created if missing, and held open.
     *
     * @throws IllegalArgumentException if the path is not absolute and normal, or too many directories are allowed
     * @throws IOException if a directory of the path is not trusted, or it cannot be made or opened
     */
    void allow(String directory) throws IOException
    {
        Path path = absolute("log directory", directory);
        if (directories.containsKey(path.toString()))
            return;
        if (directories.size() >= MAX_DIRECTORIES)
            throw new IllegalArgumentException("log directory " + path + " refused: already " + MAX_DIRECTORIES + " log directories");
        Path real;
        try
        {
            real = TrustedFiles.createDirectories(path);
        }
        catch (IOException x)
        {
            throw new IOException("log directory " + path + " refused: " + x.getMessage(), x);
        }
        directories.put(path.toString(), posix.openDirectory(real));
        LOG.info("tenant logs allowed in {}", path);
    }

    /**
     * @return the allowed directories, as the front named them
     */
    List<String> getDirectories()
    {
        return new ArrayList<>(directories.keySet());
    }

    /**
     * Opens a tenant log for appending, creating it if missing.
     *
     * @param file the log's absolute path, directly in an allowed directory
     * @param gid the tenant's group, which the file gets
     * @return the descriptor, to hand over and close
     * @throws IllegalArgumentException if the request is not allowed, saying why
     * @throws IOException if the file is not a tenant log, or cannot be opened
     */
    int open(String file, int gid) throws IOException
    {
        Target target = target(file, gid);
        return open(target, gid);
    }

    /**
     * Renames a tenant log to {@code NAME.1} (replacing it), then opens {@code NAME} anew.
     *
     * @return the new file's descriptor, to hand over and close
     * @throws IllegalArgumentException if the request is not allowed, saying why
     * @throws IOException if the file or {@code NAME.1} is not a tenant log, or the rename fails
     */
    int rotate(String file, int gid) throws IOException
    {
        Target target = target(file, gid);
        boolean exists = checkExisting(target.directory(), target.name(), target.path());
        // What the rename replaces is deleted: it must be a tenant log too.
        checkExisting(target.directory(), target.name() + ROTATED_SUFFIX, target.path() + ROTATED_SUFFIX);
        if (exists)
            posix.renameAt(target.directory(), target.name(), target.name() + ROTATED_SUFFIX);
        return open(target, gid);
    }

    private record Target(int directory, String name, String path)
    {
    }

    private Target target(String file, int gid)
    {
        checkGid(gid);
        Path path = absolute("log file", file);
        Path parent = path.getParent();
        if (parent == null || path.getFileName() == null)
            throw new IllegalArgumentException("log file " + file + " has no directory");
        String name = path.getFileName().toString();
        checkName(file, name);
        Integer directory = directories.get(parent.toString());
        if (directory == null)
            throw new IllegalArgumentException("log file " + file + " refused: " + parent + " is not a log directory allowed before the front's drop " + directories.keySet());
        return new Target(directory, name, path.toString());
    }

    private static Path absolute(String what, String value)
    {
        Path path = Path.of(value);
        // Path.of quietly drops a doubled or trailing '/': the name must be the canonical one, as given.
        if (!path.isAbsolute() || !path.normalize().equals(path) || !path.toString().equals(value))
            throw new IllegalArgumentException(what + " " + value + " refused: not an absolute, normal path");
        return path;
    }

    private static void checkName(String file, String name)
    {
        if (name.length() > MAX_NAME_LENGTH)
            throw new IllegalArgumentException("log file " + file + " refused: a name longer than " + MAX_NAME_LENGTH);
        if (name.startsWith("."))
            throw new IllegalArgumentException("log file " + file + " refused: a name starting with '.'");
        for (int i = 0; i < name.length(); i++)
        {
            char c = name.charAt(i);
            if (!(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'))
                throw new IllegalArgumentException("log file " + file + " refused: a name with '" + c + "' (letters, digits, '.', '_', '-' only)");
        }
    }

    private void checkGid(int gid)
    {
        if (gid == 0)
            throw new IllegalArgumentException("log group 0 refused");
        if (gid < minId || gid > maxId)
            throw new IllegalArgumentException("log group " + Integer.toUnsignedString(gid) + " out of " + minId + ".." + maxId);
        if (gid == frontGid)
            throw new IllegalArgumentException("log group " + gid + " is the front's");
    }

    private int open(Target target, int gid) throws IOException
    {
        int fd = posix.createForAppendAt(target.directory(), target.name(), MODE);
        boolean created = fd >= 0;
        try
        {
            if (!created)
            {
                fd = posix.openExistingForAppendAt(target.directory(), target.name());
                checkTenantLog(target.path(), posix.fstat(fd));
            }
            // The umask may have taken bits away; an existing log of another tenant's group changes hands.
            posix.fchown(fd, 0, gid);
            posix.fchmod(fd, MODE);
            LOG.info("tenant log {} {} for gid {}", target.path(), created ? "created" : "opened", gid);
            return fd;
        }
        catch (IOException | RuntimeException x)
        {
            if (fd >= 0)
                posix.close(fd);
            throw x;
        }
    }

    /**
     * @return whether the name exists; if it does, it is a tenant log
     * @throws IOException if it exists and is not a tenant log
     */
    private boolean checkExisting(int directory, String name, String path) throws IOException
    {
        int fd;
        try
        {
            fd = posix.openExistingForAppendAt(directory, name);
        }
        catch (NoSuchFileException x)
        {
            return false;
        }
        try
        {
            checkTenantLog(path, posix.fstat(fd));
            return true;
        }
        finally
        {
            posix.close(fd);
        }
    }

    private void checkTenantLog(String path, FileStat stat) throws IOException
    {
        if (!stat.isFile())
            throw new IOException("log file " + path + " refused: not a regular file");
        if (stat.nlink() != 1)
            throw new IOException("log file " + path + " refused: " + stat.nlink() + " links");
        if (stat.uid() != 0)
            throw new IOException("log file " + path + " refused: owned by uid " + Integer.toUnsignedString(stat.uid()) + ", not root");
        int group = stat.gid();
        if (group == 0 || group == frontGid || group < minId || group > maxId)
            throw new IOException("log file " + path + " refused: its group " + Integer.toUnsignedString(group) + " is no tenant's (" + minId + ".." + maxId + ")");
    }

    @Override
    public void close()
    {
        for (int fd : directories.values())
        {
            try
            {
                posix.close(fd);
            }
            catch (IOException x)
            {
                LOG.debug("IGNORED", x);
            }
        }
        directories.clear();
    }

    @Override
    public String toString()
    {
        return "%s@%x%s".formatted(getClass().getSimpleName(), hashCode(), directories.keySet());
    }
}
