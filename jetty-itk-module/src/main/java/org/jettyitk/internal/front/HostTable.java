package org.jettyitk.internal.front;

import java.util.HashMap;
import java.util.Map;

import org.eclipse.jetty.util.StringUtil;

/**
 * <p>Maps a request's host to the value configured for it: exact names first, then {@code *.domain}
 * wildcards matching exactly one more label (as Jetty's {@code ContextHandler} virtual hosts).</p>
 * <p>Names are compared case-insensitively with one trailing dot ignored; the caller strips the port.
 * Jetty normalises neither, so {@code ALICE.example.com.} must find {@code alice.example.com}. Only ASCII letters
 * are folded, and a host with a character no configured name may hold (anything but letters, digits,
 * {@code - . _ :}, an IPv6 literal's brackets aside) matches nothing: Unicode case folding would let
 * {@code Kate.example.com} spelt with a Kelvin sign (U+212A) reach {@code kate.example.com}.</p>
 *
 * @param <T> the value type
 */
public class HostTable<T>
{
    private final Map<String, T> exact = new HashMap<>();
    private final Map<String, T> wildcards = new HashMap<>();

    /**
     * @param hostName an exact name or {@code *.domain}
     * @param value the value
     * @return the value already registered under that name, or null
     * @throws IllegalArgumentException if the name is not a valid host name
     */
    public T put(String hostName, T value)
    {
        String name = normalize(hostName);
        if (name.startsWith("*."))
        {
            String domain = name.substring(2);
            check(hostName, domain);
            return wildcards.putIfAbsent(domain, value);
        }
        check(hostName, name);
        return exact.putIfAbsent(name, value);
    }

    /**
     * @param host a host as it came in the request, without port; may be null
     * @return the value for it, or null
     */
    public T get(String host)
    {
        if (host == null || host.isEmpty())
            return null;
        String name = normalize(host);
        if (!isValid(name))
            return null;
        T value = exact.get(name);
        if (value != null)
            return value;
        int dot = name.indexOf('.');
        if (dot <= 0)
            return null;
        return wildcards.get(name.substring(dot + 1));
    }

    public boolean isEmpty()
    {
        return exact.isEmpty() && wildcards.isEmpty();
    }

    static String normalize(String host)
    {
        String name = StringUtil.asciiToLowerCase(host);
        if (name.endsWith("."))
            name = name.substring(0, name.length() - 1);
        // An IPv6 literal comes bracketed in a Host header.
        if (name.startsWith("[") && name.endsWith("]"))
            name = name.substring(1, name.length() - 1);
        return name;
    }

    private static void check(String original, String name)
    {
        if (name.isEmpty() || name.startsWith(".") || name.contains("..") || name.contains("*"))
            throw new IllegalArgumentException("invalid host name '" + original + "'");
        for (int i = 0; i < name.length(); i++)
        {
            char c = name.charAt(i);
            if (!isValid(c))
                throw new IllegalArgumentException("invalid host name '" + original + "': character '" + c + "'");
        }
    }

    private static boolean isValid(String name)
    {
        for (int i = 0; i < name.length(); i++)
        {
            if (!isValid(name.charAt(i)))
                return false;
        }
        return true;
    }

    private static boolean isValid(char c)
    {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == ':';
    }
}
