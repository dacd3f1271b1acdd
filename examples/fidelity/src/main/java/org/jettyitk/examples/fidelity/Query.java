package org.jettyitk.examples.fidelity;

import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import jakarta.servlet.http.HttpServletRequest;

/**
 * <p>The parameters of a request's query string, read from {@link HttpServletRequest#getQueryString()} rather
 * than {@link HttpServletRequest#getParameter(String)}: asking the container for a parameter would read a form
 * body, which the servlets must be free to read (or not) themselves.</p>
 */
final class Query
{
    private final List<String[]> pairs = new ArrayList<>();

    Query(HttpServletRequest request)
    {
        String query = request.getQueryString();
        if (query == null || query.isEmpty())
            return;
        for (String pair : query.split("&"))
        {
            int equals = pair.indexOf('=');
            String name = equals < 0 ? pair : pair.substring(0, equals);
            String value = equals < 0 ? "" : pair.substring(equals + 1);
            pairs.add(new String[]{decode(name), decode(value)});
        }
    }

    private static String decode(String text)
    {
        return URLDecoder.decode(text, StandardCharsets.UTF_8);
    }

    /**
     * @return the first value of the parameter, or null
     */
    String get(String name)
    {
        for (String[] pair : pairs)
        {
            if (pair[0].equals(name))
                return pair[1];
        }
        return null;
    }

    String get(String name, String otherwise)
    {
        String value = get(name);
        return value == null ? otherwise : value;
    }

    int getInt(String name, int otherwise)
    {
        String value = get(name);
        return value == null ? otherwise : Integer.parseInt(value);
    }

    List<String> getAll(String name)
    {
        List<String> values = new ArrayList<>();
        for (String[] pair : pairs)
        {
            if (pair[0].equals(name))
                values.add(pair[1]);
        }
        return values;
    }

    boolean has(String name)
    {
        return get(name) != null;
    }
}
