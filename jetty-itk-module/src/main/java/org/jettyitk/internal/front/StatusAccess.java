package org.jettyitk.internal.front;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.NetworkInterface;
import java.net.SocketAddress;
import java.net.SocketException;
import java.net.UnixDomainSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalInt;
import java.util.function.IntPredicate;
import java.util.regex.Pattern;

import org.eclipse.jetty.io.Connection;
import org.eclipse.jetty.io.EndPoint;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.util.InetAddressSet;
import org.jettyitk.internal.pipe.ConnectionFacts;
import org.jettyitk.internal.posix.SocketOwners;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * <p>Who may read the status page: the clients whose connection comes from one of a list of addresses, CIDR
 * ranges or address ranges (Jetty's {@link InetAddressSet} patterns, such as {@code 127.0.0.0/8}, {@code ::1},
 * {@code 192.0.2.10-192.0.2.20}, without Jetty's legacy ranges), plus, with the word {@value #UNIX}, the
 * clients of unix-domain connectors. The default, {@value #LOOPBACK}, admits loopback clients only.</p>
 * <p>A client is judged by the remote address of its connection's {@link EndPoint}, never by what a request
 * says: neither {@code Host} nor {@code Forwarded} / {@code X-Forwarded-For}, which Jetty's
 * {@code ForwardedRequestCustomizer} turns into the request's remote address. A PROXY protocol connector
 * ({@code proxy-protocol} module) gives its end points the address the proxy reported: that proxy is trusted
 * by whoever enabled it.</p>
 * <p>A client on this machine (loopback, or one of its addresses) is also judged by who owns its socket
 * ({@link SocketOwners}): a tenant's process, or a socket the kernel no longer lists, never reads the page, since
 * loopback is open to every local user. The clients of a unix-domain connector are whoever the socket file's
 * mode lets in.</p>
 * <p>Entries are numeric: a host name would be resolved once, at configuration time, and is refused instead,
 * as are the short forms {@code InetAddress} accepts ({@code 127.1}).</p>
 */
public final class StatusAccess
{
    private static final Logger LOG = LoggerFactory.getLogger(StatusAccess.class);
    /** The default: loopback clients only. */
    public static final String LOOPBACK = "127.0.0.0/8,::1";
    /** The entry that admits the clients of unix-domain connectors. */
    public static final String UNIX = "unix";

    private static final Pattern PREFIX_LENGTH = Pattern.compile("[0-9]{1,3}");

    private final String patterns;
    private final InetAddressSet addresses = new InetAddressSet();
    private final boolean unixDomain;

    /**
     * @param patterns comma-separated entries; empty admits nobody
     * @throws IllegalArgumentException naming the entry that is not an address, a range or {@value #UNIX}
     */
    public StatusAccess(String patterns)
    {
        List<String> entries = new ArrayList<>();
        boolean unix = false;
        for (String part : patterns.split(",", -1))
        {
            String entry = part.strip();
            if (entry.isEmpty())
            {
                if (!patterns.isBlank())
                    throw new IllegalArgumentException("statusAllow: empty entry in '" + patterns + "'");
                continue;
            }
            entries.add(entry);
            if (entry.equalsIgnoreCase(UNIX))
            {
                unix = true;
                continue;
            }
            try
            {
                checkNumeric(entry);
                addresses.add(entry);
            }
            catch (IllegalArgumentException x)
            {
                throw new IllegalArgumentException("statusAllow: bad address or range '" + entry + "': " + x.getMessage(), x);
            }
        }
        this.patterns = String.join(",", entries);
        this.unixDomain = unix;
    }

    /**
     * InetAddressSet reads its addresses with {@code InetAddress.getByName()}, which would look a name up (or read
     * {@code 127.1} as {@code 127.0.0.1}): every address of the entry must be a strict numeric literal first.
     * Jetty's legacy ranges ({@code 10.10.10-14.0-128}) are refused for that reason: Jetty looks them up as names
     * before it reads them as ranges.
     */
    private static void checkNumeric(String entry)
    {
        int slash = entry.indexOf('/');
        if (slash >= 0 && !PREFIX_LENGTH.matcher(entry.substring(slash + 1)).matches())
            throw new IllegalArgumentException("bad prefix length");
        String[] addresses = slash >= 0 ? new String[]{entry.substring(0, slash)} : entry.split("-", -1);
        if (addresses.length > 2)
            throw new IllegalArgumentException("more than one '-'");
        for (String address : addresses)
        {
            String literal = address.strip();
            if (literal.startsWith("[") && literal.endsWith("]"))
                literal = literal.substring(1, literal.length() - 1);
            ConnectionFacts.parseLiteral(literal);
        }
    }

    /**
     * @param request the request for the status page
     * @param isTenant whether a uid is a tenant's, whose processes never read the page, even from an admitted address
     * @return whether the connection the request came on is from an admitted client: its address is admitted and,
     * when it comes from this machine, its socket is live and not a tenant's
     */
    public boolean isAllowed(Request request, IntPredicate isTenant)
    {
        Connection connection = request.getConnectionMetaData().getConnection();
        EndPoint endPoint = connection == null ? null : connection.getEndPoint();
        if (endPoint == null)
            return false;
        SocketAddress remote = endPoint.getRemoteSocketAddress();
        if (!isAllowed(remote))
            return false;
        if (remote instanceof InetSocketAddress client && isThisMachine(client.getAddress()))
        {
            // Loopback is every local process, tenants' workers included: ask the kernel whose socket this is.
            if (!(endPoint.getLocalSocketAddress() instanceof InetSocketAddress server))
                return false;
            OptionalInt uid;
            try
            {
                uid = SocketOwners.uidOf(client, server);
            }
            catch (IOException | RuntimeException x)
            {
                LOG.warn("status page refused to {}: cannot tell who owns its socket", client, x);
                return false;
            }
            if (uid.isEmpty() || isTenant.test(uid.getAsInt()))
            {
                if (LOG.isDebugEnabled())
                    LOG.debug("status page refused to {}: socket of uid {}", client, uid.isEmpty() ? "unknown" : uid.getAsInt());
                return false;
            }
        }
        return true;
    }

    /**
     * @param remote a connection's remote address, or null if unknown
     * @return whether the address is admitted
     */
    public boolean isAllowed(SocketAddress remote)
    {
        if (remote instanceof InetSocketAddress inet)
            return inet.getAddress() != null && addresses.test(inet.getAddress());
        if (remote instanceof UnixDomainSocketAddress)
            return unixDomain;
        return false;
    }

    private static boolean isThisMachine(InetAddress address)
    {
        if (address.isLoopbackAddress() || address.isAnyLocalAddress())
            return true;
        try
        {
            return NetworkInterface.getByInetAddress(address) != null;
        }
        catch (SocketException x)
        {
            // Cannot tell: count it as local, so that its socket's owner is checked.
            return true;
        }
    }

    /**
     * @return the entries, comma-separated, as given (without blanks)
     */
    public String getPatterns()
    {
        return patterns;
    }

    @Override
    public String toString()
    {
        return "%s@%x[%s]".formatted(getClass().getSimpleName(), hashCode(), patterns);
    }
}
