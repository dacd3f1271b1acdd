package org.jettyitk.internal.front;

import java.io.IOException;

/**
 * <p>A worker broke the rules of what it may send (DESIGN: everything the worker sends is untrusted).
 * It is a connection error: the front kills that worker and fails only that worker's streams.</p>
 */
public class ItkProtocolException extends IOException
{
    public ItkProtocolException(String message)
    {
        super(message);
    }
}
