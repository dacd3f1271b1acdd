package org.jettyitk.tests;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import jnr.constants.platform.Errno;
import jnr.constants.platform.OpenFlags;
import jnr.ffi.LibraryLoader;
import jnr.ffi.annotations.In;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;

/**
 * <p>A hostile tenant app: it looks for a terminal to push keystrokes into, as a tenant would to reach the
 * shell of the admin who started the server. It opens {@code /dev/tty} (its controlling terminal, if any) and
 * tries {@code ioctl(TIOCSTI)} there and on its standard descriptors, and reports its ids from
 * {@code /proc/self/stat}:</p>
 * <pre>
 *   pid=... pgrp=... session=... tty_nr=...
 *   tty=ENXIO            (or: opened)
 *   tiocsti [ctty=...] 0=ENOTTY 1=ENOTTY 2=ENOTTY
 * </pre>
 */
public class TerminalProbe extends Handler.Abstract
{
    /** Linux's {@code ioctl(2)} request that pushes a byte into a terminal's input. */
    private static final long TIOCSTI = 0x5412;

    public interface LibC
    {
        int open(String path, int flags);

        int ioctl(int fd, long request, @In byte[] character);

        int close(int fd);
    }

    @Override
    public boolean handle(Request request, Response response, Callback callback) throws Exception
    {
        response.getHeaders().put(HttpHeader.CONTENT_TYPE, "text/plain;charset=utf-8");
        Content.Sink.write(response, true, report(), callback);
        return true;
    }

    public static String report() throws IOException
    {
        LibC libc = LibraryLoader.create(LibC.class).load("c");
        jnr.ffi.Runtime runtime = jnr.ffi.Runtime.getRuntime(libc);
        StringBuilder out = new StringBuilder(stat(Files.readString(Path.of("/proc/self/stat"), StandardCharsets.UTF_8))).append('\n');
        int tty = libc.open("/dev/tty", OpenFlags.O_RDWR.intValue());
        out.append("tty=").append(tty >= 0 ? "opened" : Errno.valueOf(runtime.getLastError()).name()).append('\n');
        out.append("tiocsti");
        if (tty >= 0)
            out.append(" ctty=").append(pushHash(libc, runtime, tty));
        for (int fd = 0; fd <= 2; fd++)
        {
            out.append(' ').append(fd).append('=').append(pushHash(libc, runtime, fd));
        }
        if (tty >= 0)
            libc.close(tty);
        return out.append('\n').toString();
    }

    /**
     * Pushes a harmless {@code #} into the terminal's input, as an attacker would push a command.
     */
    private static String pushHash(LibC libc, jnr.ffi.Runtime runtime, int fd)
    {
        return libc.ioctl(fd, TIOCSTI, new byte[]{'#'}) == 0 ? "pushed" : Errno.valueOf(runtime.getLastError()).name();
    }

    /**
     * @return {@code pid=... pgrp=... session=... tty_nr=...} from the content of a {@code /proc/PID/stat}
     */
    public static String stat(String content)
    {
        // Fields after the command, which may hold spaces: 3 state, 4 ppid, 5 pgrp, 6 session, 7 tty_nr.
        String[] rest = content.substring(content.lastIndexOf(')') + 2).trim().split(" ");
        return "pid=" + content.substring(0, content.indexOf(' ')) + " pgrp=" + rest[2] + " session=" + rest[3] + " tty_nr=" + rest[4];
    }
}
