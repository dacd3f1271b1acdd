package org.jettyitk.internal.posix;

import java.io.BufferedReader;
import java.io.IOException;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import java.util.OptionalInt;

/**
 * <p>Who owns the client end of a TCP connection made from this machine: the uid that created the client's
 * socket, as Linux lists it in {@code /proc/net/tcp} and {@code /proc/net/tcp6} (the {@code uid} column), found
 * by its local address (the client's) and its remote address (the server's). The front's own network namespace
 * is the one read.</p>
 * <pre>
 *   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
 *    3: 0100007F:A1B2 0100007F:1F90 01 00000000:00000000 00:00000000 00000000 41001        0 123456 ...
 * </pre>
 * <p>Addresses are the kernel's words in hexadecimal, each 32-bit word in the machine's byte order; ports are
 * big-endian hexadecimal. An IPv4 client may hold an IPv6 socket ({@code ::ffff:127.0.0.1}): both tables are
 * searched. Sockets in {@code TIME_WAIT} have no owner (the kernel lists uid 0) and are never matched.</p>
 */
public final class SocketOwners
{
    private static final List<Path> TABLES = List.of(Path.of("/proc/net/tcp"), Path.of("/proc/net/tcp6"));
    private static final String TIME_WAIT = "06";
    /** Field indexes of a table line, split on white space. */
    private static final int LOCAL = 1;
    private static final int REMOTE = 2;
    private static final int STATE = 3;
    private static final int UID = 7;

    private SocketOwners()
    {
    }

    /**
     * @param client the client end's address, as the server sees its peer
     * @param server the server end's address, as the server sees its own
     * @return the uid of the live socket of this machine with that local and that remote address, or empty when
     * there is none (the client is elsewhere, or has closed)
     * @throws IOException if the tables cannot be read
     */
    public static OptionalInt uidOf(InetSocketAddress client, InetSocketAddress server) throws IOException
    {
        InetAddress clientAddress = client.getAddress();
        InetAddress serverAddress = server.getAddress();
        if (clientAddress == null || serverAddress == null)
            return OptionalInt.empty();
        List<String> locals = keys(clientAddress, client.getPort());
        List<String> remotes = keys(serverAddress, server.getPort());
        for (Path table : TABLES)
        {
            OptionalInt uid = search(table, locals, remotes);
            if (uid.isPresent())
                return uid;
        }
        return OptionalInt.empty();
    }

    private static OptionalInt search(Path table, List<String> locals, List<String> remotes) throws IOException
    {
        try (BufferedReader reader = Files.newBufferedReader(table, StandardCharsets.US_ASCII))
        {
            // The first line names the columns.
            reader.readLine();
            for (String line = reader.readLine(); line != null; line = reader.readLine())
            {
                String[] fields = line.trim().split("\\s+");
                if (fields.length <= UID || TIME_WAIT.equals(fields[STATE]))
                    continue;
                if (locals.contains(fields[LOCAL]) && remotes.contains(fields[REMOTE]))
                    return OptionalInt.of(Integer.parseUnsignedInt(fields[UID]));
            }
        }
        catch (NoSuchFileException x)
        {
            // A kernel without IPv6 has no tcp6 table.
        }
        return OptionalInt.empty();
    }

    /**
     * @return the address and port as the tables write them: the IPv4 form and, for IPv4, the IPv4-mapped IPv6 form
     */
    static List<String> keys(InetAddress address, int port)
    {
        String suffix = ":%04X".formatted(port);
        if (address instanceof Inet4Address)
        {
            byte[] mapped = new byte[16];
            mapped[10] = (byte)0xff;
            mapped[11] = (byte)0xff;
            System.arraycopy(address.getAddress(), 0, mapped, 12, 4);
            return List.of(words(address.getAddress()) + suffix, words(mapped) + suffix);
        }
        return List.of(words(address.getAddress()) + suffix);
    }

    private static String words(byte[] address)
    {
        ByteBuffer buffer = ByteBuffer.wrap(address).order(ByteOrder.nativeOrder());
        StringBuilder hex = new StringBuilder(address.length * 2);
        while (buffer.hasRemaining())
        {
            hex.append("%08X".formatted(buffer.getInt()));
        }
        return hex.toString();
    }
}
