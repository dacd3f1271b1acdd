package org.jettyitk.internal.front;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Instant;

import jnr.posix.FileStat;
import org.eclipse.jetty.util.thread.AutoLock;
import org.jettyitk.internal.posix.Posix;
import org.jettyitk.internal.posix.TrustedFiles;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * <p>A vhost's log of its workers' stderr: one line per line the tenant printed, prefixed with the time and
 * pid, rotated past a size (one {@code .1} file kept), so a tenant printing without end fills a bounded amount
 * of disk.</p>
 * <p>The front writes the file as root, so every directory of its path must be owned by root and writable by
 * no one else ({@link TrustedFiles}): otherwise a tenant could put a link in the path and have root create or
 * rename files anywhere. The directory is then held open, and the file is opened, rotated and reopened by its
 * name in it, never following a link. The file is {@value #MODE_TEXT}, owned by root and the tenant's group:
 * the tenant may read its own log, other tenants may not.</p>
 */
public class TenantLog implements AutoCloseable
{
    private static final Logger LOG = LoggerFactory.getLogger(TenantLog.class);
    public static final int MODE = 0640;
    private static final String MODE_TEXT = "0640";

    private final AutoLock lock = new AutoLock();
    private final Posix posix;
    private final Path file;
    private final String name;
    private final long maxSize;
    private final int gid;
    private int directory;
    private int fd = -1;
    private long size;

    /**
     * @param file the log file; its directory is created if missing
     * @param maxSize the size past which it is rotated
     * @param gid the group of the file: the tenant's
     * @throws IOException if a directory of the path is not owned by root or writable by others, or the file
     * cannot be opened or is no regular file
     */
    public TenantLog(Path file, long maxSize, int gid) throws IOException
    {
        this.posix = Posix.get();
        Path absolute = file.toAbsolutePath().normalize();
        Path parent = absolute.getParent();
        if (parent == null)
            throw new IOException("log file " + file + " has no directory");
        Path directoryPath;
        try
        {
            directoryPath = TrustedFiles.createDirectories(parent);
        }
        catch (IOException x)
        {
            throw new IOException("log directory " + parent + " refused: " + x.getMessage(), x);
        }
        this.file = directoryPath.resolve(absolute.getFileName());
        this.name = absolute.getFileName().toString();
        this.maxSize = maxSize;
        this.gid = gid;
        this.directory = posix.openDirectory(directoryPath);
        try
        {
            open();
        }
        catch (IOException x)
        {
            posix.close(directory);
            throw x;
        }
    }

    private void open() throws IOException
    {
        int opened = posix.openForAppendAt(directory, name, MODE);
        try
        {
            FileStat stat = posix.fstat(opened);
            if (!stat.isFile())
                throw new IOException("log file " + file + " is not a regular file");
            // A file from before (or a mode the umask changed) gets the log's owner, group and mode.
            posix.fchown(opened, Posix.UNCHANGED_ID, gid);
            posix.fchmod(opened, MODE);
            size = stat.st_size();
            fd = opened;
        }
        catch (IOException x)
        {
            posix.close(opened);
            throw x;
        }
    }

    /**
     * Appends one line; on failure the line goes to the server log instead.
     */
    public void write(long pid, String line)
    {
        byte[] bytes = (Instant.now() + " [" + pid + "] " + line + "\n").getBytes(StandardCharsets.UTF_8);
        try (AutoLock ignored = lock.lock())
        {
            if (directory < 0)
                throw new IOException("closed");
            if (fd < 0)
                open();
            if (size + bytes.length > maxSize)
                rotate();
            posix.write(fd, bytes);
            size += bytes.length;
        }
        catch (IOException x)
        {
            LOG.warn("cannot write {}: {}; line was [{}] {}", file, x.toString(), pid, line);
        }
    }

    private void rotate() throws IOException
    {
        int old = fd;
        fd = -1;
        posix.close(old);
        posix.renameAt(directory, name, name + ".1");
        open();
    }

    @Override
    public void close()
    {
        try (AutoLock ignored = lock.lock())
        {
            // Closed once: a descriptor number closed twice may be another file's by then.
            if (fd >= 0)
                posix.close(fd);
            fd = -1;
            if (directory >= 0)
                posix.close(directory);
            directory = -1;
        }
        catch (IOException x)
        {
            LOG.trace("IGNORED", x);
        }
    }

    @Override
    public String toString()
    {
        return "%s@%x[%s,max=%d]".formatted(getClass().getSimpleName(), hashCode(), file, maxSize);
    }
}
