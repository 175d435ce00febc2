/* Placeholder: the model is being written. */
#include "conjflow-config.h"
#include "conjflow/model.h"
