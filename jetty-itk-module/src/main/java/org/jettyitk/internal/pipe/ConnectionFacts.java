package org.jettyitk.internal.pipe;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.UnknownHostException;
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
 * else (no {@code Forwarded}, no {@code X-Forwarded-*}). The protocol is the one the client spoke
 * ({@code HTTP/1.1}, {@code HTTP/2.0}), which {@code getProtocol()} must report, not the pipe's HTTP/2. Addresses are numeric literals only, so parsing
 * never resolves a name.</p>
 */
public record ConnectionFacts(InetSocketAddress remote, InetSocketAddress local, boolean secure, String protocol)
{
    /** The private request header that carries the facts from the front to the worker. */
    public static final String HEADER = "Itk-Connection";
    public static final int VERSION = 1;
    /** Longest value accepted: two bracketed IPv6 literals with ports and the keys fit well within it. */
    public static final int MAX_VALUE_LENGTH = 256;
    private static final Pattern PROTOCOL = Pattern.compile("HTTP/[0-9](\\.[0-9])?");

    public ConnectionFacts
    {
        if (remote == null || local == null)
            throw new IllegalArgumentException("remote and local addresses are required");
        if (protocol == null || !PROTOCOL.matcher(protocol).matches())
            throw new IllegalArgumentException(HEADER + " bad protocol: " + protocol);
    }

    /**
     * @param remote the client's address as the front sees it, or null when not an IP socket
     * @param local the front's local address, or null when not an IP socket
     * @param secure whether the client connection is secure
     * @param protocol the protocol the client spoke, such as {@code HTTP/1.1}
     * @return the facts, with {@code 0.0.0.0:0} standing for an address that is not an IP socket
     */
    public static ConnectionFacts of(SocketAddress remote, SocketAddress local, boolean secure, String protocol)
    {
        return new ConnectionFacts(inet(remote), inet(local), secure, protocol);
    }

    private static InetSocketAddress inet(SocketAddress address)
    {
        if (address instanceof InetSocketAddress inet)
        {
            if (inet.getAddress() != null)
                return inet;
            // Jetty's ForwardedRequestCustomizer gives the proxied client unresolved: parse its literal, never resolve.
            String host = inet.getHostString();
            if (host.startsWith("[") && host.endsWith("]"))
                host = host.substring(1, host.length() - 1);
            try
            {
                return parseAddress((host.indexOf(':') >= 0 ? "[" + host + "]" : host) + ":" + inet.getPort());
            }
            catch (IllegalArgumentException x)
            {
                // Not a numeric literal (a name or an obfuscated identifier): nothing true can be said of it.
            }
        }
        return new InetSocketAddress(InetAddress.getLoopbackAddress(), 0);
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
        String host = address.getAddress().getHostAddress();
        if (host.indexOf(':') >= 0)
            host = "[" + host + "]";
        return host + ":" + address.getPort();
    }

    /**
     * @param value the header value
     * @return the parsed facts
     * @throws IllegalArgumentException if the value is not exactly in the format of {@link #format()}
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
        if (host.startsWith("[") && host.endsWith("]"))
            host = host.substring(1, host.length() - 1);
        // Only numeric literals: InetAddress.getByName() must never turn into a name lookup.
        if (host.isEmpty() || !host.chars().allMatch(c -> Character.digit(c, 16) >= 0 || c == '.' || c == ':'))
            throw new IllegalArgumentException(HEADER + " address is not a numeric literal: " + text);
        int port;
        try
        {
            port = Integer.parseInt(text.substring(colon + 1));
            if (port < 0 || port > 65535)
                throw new NumberFormatException();
            return new InetSocketAddress(InetAddress.getByName(host), port);
        }
        catch (NumberFormatException | UnknownHostException x)
        {
            throw new IllegalArgumentException(HEADER + " bad address: " + text, x);
        }
    }
}
