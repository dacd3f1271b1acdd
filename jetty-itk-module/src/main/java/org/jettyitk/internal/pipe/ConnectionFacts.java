package org.jettyitk.internal.pipe;

import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.UnknownHostException;
import java.util.Locale;
import java.util.regex.Pattern;

/**
 * <p>The facts of the client's connection to the front that a tenant must see as if it were connected
 * directly: client address and port, local address and port, and whether the connection is secure.
 * Scheme, server name and port travel in the HTTP/2 {@code :scheme} and {@code :authority} pseudo headers.</p>
 * <p>They travel in one private request header, {@value #HEADER}, whose value is</p>
 * <pre>
 *   v=1;remote=203.0.113.7:51234;local=[2001:db8::1]:443;secure=true;protocol=HTTP/1.1
 * </pre>
 * <p>The front removes every copy a client sent before it sets its own, and the worker trusts nothing
 * else (no {@code Forwarded}, no {@code X-Forwarded-*}, no trailer). The protocol is the one the client spoke
 * ({@code HTTP/1.1}, {@code HTTP/2.0}), which {@code getProtocol()} must report, not the pipe's HTTP/2.</p>
 * <p>Addresses are numeric literals only, so that neither side ever resolves a name: IPv4 as four decimal
 * numbers (no {@code 127.1}, {@code 2130706433} or leading zeros, which {@link InetAddress#getByName(String)}
 * would read as {@code 127.0.0.1}), IPv6 in brackets, without a scope. An address that is not one (a unix-domain
 * socket, or a name or obfuscated identifier that a proxy put in {@code Forwarded}) becomes {@link #UNKNOWN},
 * {@code 0.0.0.0:0}: never loopback, never any real client, so that no tenant grants it the trust it gives
 * {@code 127.0.0.1}.</p>
 */
public record ConnectionFacts(InetSocketAddress remote, InetSocketAddress local, boolean secure, String protocol)
{
    /** The private request header that carries the facts from the front to the worker. */
    public static final String HEADER = "Itk-Connection";
    /** {@link #HEADER} as a field's lower-case name: HPACK's spelling. */
    public static final String LOWER_CASE_HEADER = HEADER.toLowerCase(Locale.ROOT);
    public static final int VERSION = 1;
    /** Longest value accepted: two bracketed IPv6 literals with ports and the keys fit well within it. */
    public static final int MAX_VALUE_LENGTH = 256;
    /** What stands for an address that is not an IP address: the unspecified address, port 0. */
    public static final InetSocketAddress UNKNOWN = new InetSocketAddress(ipv4(new byte[4]), 0);
    private static final Pattern PROTOCOL = Pattern.compile("HTTP/[0-9](\\.[0-9])?");
    private static final Pattern IPV6 = Pattern.compile("[0-9A-Fa-f:][0-9A-Fa-f:.]*");

    public ConnectionFacts
    {
        if (remote == null || local == null)
            throw new IllegalArgumentException("remote and local addresses are required");
        if (remote.getAddress() == null || local.getAddress() == null)
            throw new IllegalArgumentException("unresolved address: " + (remote.getAddress() == null ? remote : local));
        if (protocol == null || !PROTOCOL.matcher(protocol).matches())
            throw new IllegalArgumentException(HEADER + " bad protocol: " + protocol);
    }

    /**
     * @param remote the client's address as the front's request reports it (resolved by Jetty's
     * {@code ForwardedRequestCustomizer} when the server has one), or null when unknown
     * @param local the front's local address, or null when unknown
     * @param secure whether the client connection is secure
     * @param protocol the protocol the client spoke, such as {@code HTTP/1.1}
     * @return the facts, with {@link #UNKNOWN} for an address that is not an IP address or an IP literal
     */
    public static ConnectionFacts of(SocketAddress remote, SocketAddress local, boolean secure, String protocol)
    {
        return new ConnectionFacts(inet(remote), inet(local), secure, protocol);
    }

    private static InetSocketAddress inet(SocketAddress address)
    {
        if (!(address instanceof InetSocketAddress inet))
            return UNKNOWN;
        InetAddress ip = inet.getAddress();
        if (ip == null)
        {
            // Jetty's ForwardedRequestCustomizer gives the proxied client unresolved: parse its literal, never resolve.
            String host = inet.getHostString();
            if (host.startsWith("[") && host.endsWith("]"))
                host = host.substring(1, host.length() - 1);
            try
            {
                ip = parseLiteral(host);
            }
            catch (IllegalArgumentException x)
            {
                // A name, "unknown" or an obfuscated identifier: nothing true can be said of it.
                return UNKNOWN;
            }
        }
        else if (ip instanceof Inet6Address ipv6 && ipv6.getScopeId() != 0)
        {
            // A scope names an interface of the front, meaningless to the tenant, and is not a literal the worker parses.
            ip = ipv6(ipv6.getAddress());
        }
        return new InetSocketAddress(ip, inet.getPort());
    }

    /**
     * @param text an IPv4 address as four decimal numbers, or an IPv6 address (without brackets or scope)
     * @return the address; no name is ever looked up
     * @throws IllegalArgumentException if the text is not such a literal
     */
    public static InetAddress parseLiteral(String text)
    {
        byte[] ipv4 = parseIpv4(text);
        if (ipv4 != null)
            return ipv4(ipv4);
        // Starting with a hex digit or ':' and holding a ':', a text is parsed by InetAddress.getByName() as an
        // IPv6 literal or refused: it is never looked up as a name.
        if (text.indexOf(':') >= 0 && IPV6.matcher(text).matches())
        {
            try
            {
                return InetAddress.getByName(text);
            }
            catch (UnknownHostException | IllegalArgumentException x)
            {
                throw new IllegalArgumentException("not an IP address: " + text, x);
            }
        }
        throw new IllegalArgumentException("not an IP address: " + text);
    }

    private static InetAddress ipv4(byte[] bytes)
    {
        try
        {
            return InetAddress.getByAddress(bytes);
        }
        catch (UnknownHostException x)
        {
            throw new IllegalArgumentException(x);
        }
    }

    private static InetAddress ipv6(byte[] bytes)
    {
        try
        {
            return Inet6Address.getByAddress(null, bytes, null);
        }
        catch (UnknownHostException x)
        {
            throw new IllegalArgumentException(x);
        }
    }

    /**
     * @return the header value, as in the class documentation
     */
    public String format()
    {
        return "v=" + VERSION + ";remote=" + format(remote) + ";local=" + format(local) + ";secure=" + secure + ";protocol=" + protocol;
    }

    private static String format(InetSocketAddress address)
    {
        InetAddress ip = address.getAddress();
        if (ip instanceof Inet6Address ipv6 && ipv6.getScopeId() != 0)
            ip = ipv6(ipv6.getAddress());
        String host = ip.getHostAddress();
        if (host.indexOf(':') >= 0)
            host = "[" + host + "]";
        return host + ":" + address.getPort();
    }

    /**
     * @param value the header value
     * @return the parsed facts
     * @throws IllegalArgumentException if the value is not exactly in the format of {@link #format()}; no other
     * exception, whatever the value
     */
    public static ConnectionFacts parse(String value)
    {
        if (value == null)
            throw new IllegalArgumentException(HEADER + " missing");
        if (value.length() > MAX_VALUE_LENGTH)
            throw new IllegalArgumentException(HEADER + " length " + value.length() + " > max " + MAX_VALUE_LENGTH);
        String[] parts = value.split(";", -1);
        if (parts.length != 5)
            throw new IllegalArgumentException(HEADER + " needs 5 fields: " + value);
        if (!("v=" + VERSION).equals(parts[0]))
            throw new IllegalArgumentException(HEADER + " unsupported version: " + parts[0]);
        InetSocketAddress remote = parseAddress(field(parts[1], "remote"));
        InetSocketAddress local = parseAddress(field(parts[2], "local"));
        String secure = field(parts[3], "secure");
        if (!secure.equals("true") && !secure.equals("false"))
            throw new IllegalArgumentException(HEADER + " secure must be true or false: " + secure);
        return new ConnectionFacts(remote, local, Boolean.parseBoolean(secure), field(parts[4], "protocol"));
    }

    private static String field(String part, String key)
    {
        if (!part.startsWith(key + "="))
            throw new IllegalArgumentException(HEADER + " expected " + key + "= but got: " + part);
        return part.substring(key.length() + 1);
    }

    private static InetSocketAddress parseAddress(String text)
    {
        int colon = text.lastIndexOf(':');
        if (colon <= 0)
            throw new IllegalArgumentException(HEADER + " address without port: " + text);
        String host = text.substring(0, colon);
        String port = text.substring(colon + 1);
        boolean bracketed = host.length() >= 2 && host.startsWith("[") && host.endsWith("]");
        if (bracketed)
            host = host.substring(1, host.length() - 1);
        // As format() writes them: IPv6 in brackets, IPv4 bare, so that the last ':' always starts the port.
        if (bracketed != (host.indexOf(':') >= 0))
            throw new IllegalArgumentException(HEADER + " IPv6 address must be, and only it, in brackets: " + text);
        int portNumber = parseDecimal(port, 0, port.length(), 65535);
        if (portNumber < 0)
            throw new IllegalArgumentException(HEADER + " bad port: " + text);
        try
        {
            return new InetSocketAddress(parseLiteral(host), portNumber);
        }
        catch (IllegalArgumentException x)
        {
            throw new IllegalArgumentException(HEADER + " address is not a numeric literal: " + text, x);
        }
    }

    /**
     * @return the four bytes of an IPv4 address written as four decimal numbers of 0 to 255 without leading zeros,
     * or null when the text is not one. Parsed by hand: a worker parses the facts of each new client connection.
     */
    private static byte[] parseIpv4(String text)
    {
        byte[] bytes = new byte[4];
        int start = 0;
        for (int i = 0; i < 4; i++)
        {
            int end = i < 3 ? text.indexOf('.', start) : text.length();
            if (end < 0)
                return null;
            int octet = parseDecimal(text, start, end, 255);
            if (octet < 0)
                return null;
            bytes[i] = (byte)octet;
            start = end + 1;
        }
        return bytes;
    }

    /**
     * @return the value of {@code text[start, end)} as a decimal number without sign or leading zeros (but
     * {@code 0} itself), at most {@code max} (an octet or a port: five digits at most); -1 when it is not one
     */
    private static int parseDecimal(String text, int start, int end, int max)
    {
        int length = end - start;
        if (length < 1 || length > 5 || (length > 1 && text.charAt(start) == '0'))
            return -1;
        int value = 0;
        for (int i = start; i < end; i++)
        {
            char c = text.charAt(i);
            if (c < '0' || c > '9')
                return -1;
            value = value * 10 + (c - '0');
        }
        return value <= max ? value : -1;
    }
}
